# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reference Flash Connect app for the collection's tests.

It stands in for the real image where no registry is reachable: it honours the app's
environment contract and endpoints, caches a "balance" answer in Redis, and publishes one
event per command to RabbitMQ with publisher confirms. Python 3 standard library plus
Debian's python3-redis and python3-pika; no systemd, no root, a read-only root filesystem.
"""

import hashlib
import json
import logging
import os
import queue
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pika
import redis

VERSION = os.environ.get('APP_VERSION', '0.0.0')
BROKEN = os.environ.get('APP_BROKEN', '0') == '1'
REQUIRED_SECRETS = ('JWT_SECRET', 'ENCRYPTION_KEY', 'SESSION_SECRET', 'WEBHOOK_SECRET')
REQUIRED_SETTINGS = ('REDIS_HOST', 'RABBITMQ_URL')
MIN_SECRET_LENGTH = 32
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
USER_PATTERN = re.compile(r'^[A-Za-z0-9_.:+-]{1,64}$')
COMMANDS = ('balance', 'help', 'link', 'otp')

log = logging.getLogger('flash-connect')


class ConfigError(Exception):
    pass


def _int(env, name, default, low, high):
    raw = env.get(name, '')
    if raw == '':
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError('%s=%r is not a whole number' % (name, raw))
    if not low <= value <= high:
        raise ConfigError('%s=%d is outside %d..%d' % (name, value, low, high))
    return value


def _flag(value):
    return value.strip().lower() in ('1', 'true', 'yes', 'on')


def load_config(env):
    """Read the environment contract; raise ConfigError naming every missing or bad setting."""
    missing = [n for n in REQUIRED_SETTINGS + REQUIRED_SECRETS if not env.get(n)]
    if missing:
        raise ConfigError('missing required setting(s): %s' % ', '.join(missing))
    node_env = env.get('NODE_ENV', 'production')
    if node_env == 'production':
        short = [n for n in REQUIRED_SECRETS if len(env[n]) < MIN_SECRET_LENGTH]
        if short:
            raise ConfigError('secret(s) shorter than %d characters: %s' % (MIN_SECRET_LENGTH, ', '.join(short)))
    if not re.match(r'^amqps?://', env['RABBITMQ_URL']):
        raise ConfigError('RABBITMQ_URL must start with amqp:// or amqps://')
    return {
        'node_env': node_env,
        'port': _int(env, 'PORT', 3000, 1, 65535),
        'colour': env.get('APP_COLOUR', ''),
        'redis': {
            'host': env['REDIS_HOST'],
            'port': _int(env, 'REDIS_PORT', 6379, 1, 65535),
            'db': _int(env, 'REDIS_DB', 0, 0, 15),
            'username': env.get('REDIS_USERNAME') or None,
            'password': env.get('REDIS_PASSWORD') or None,
        },
        'rabbitmq_url': env['RABBITMQ_URL'],
        'exchange': env.get('EVENTS_EXCHANGE', 'flash.events'),
        'events_queue': env.get('EVENTS_QUEUE', 'flash.command-events'),
        'balance_ttl': _int(env, 'BALANCE_CACHE_TTL', 30, 1, 3600),
        'wallet_latency': _int(env, 'WALLET_LATENCY_MS', 100, 0, 10000) / 1000.0,
        'otp': {
            'length': _int(env, 'OTP_LENGTH', 6, 4, 10),
            'ttl_seconds': _int(env, 'OTP_TTL_SECONDS', 300, 30, 3600),
            'max_attempts': _int(env, 'OTP_MAX_ATTEMPTS', 3, 1, 10),
        },
        'features': dict(sorted((k[len('ENABLE_'):].lower(), _flag(v)) for k, v in env.items() if k.startswith('ENABLE_'))),
        'session_dir': env.get('WHATSAPP_SESSION_PATH', '/app/sessions'),
    }


class Metrics(object):
    """Prometheus text exposition of a request-duration histogram and a few counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._hist = {}
        self._counters = {}

    def observe(self, method, route, status, seconds):
        key = (method, route, str(status))
        with self._lock:
            entry = self._hist.setdefault(key, [[0] * len(BUCKETS), 0, 0.0])
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    entry[0][i] += 1
            entry[1] += 1
            entry[2] += seconds

    def inc(self, name, amount=1):
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + amount

    def render(self):
        lines = [
            '# HELP app_info Version of the running app.',
            '# TYPE app_info gauge',
            'app_info{version="%s"} 1' % VERSION,
            '# HELP http_request_duration_seconds Duration of HTTP requests.',
            '# TYPE http_request_duration_seconds histogram',
        ]
        with self._lock:
            for (method, route, status), (counts, count, total) in sorted(self._hist.items()):
                labels = 'method="%s",route="%s",status_code="%s"' % (method, route, status)
                for bound, n in zip(BUCKETS, counts):
                    lines.append('http_request_duration_seconds_bucket{%s,le="%s"} %d' % (labels, bound, n))
                lines.append('http_request_duration_seconds_bucket{%s,le="+Inf"} %d' % (labels, count))
                lines.append('http_request_duration_seconds_sum{%s} %.6f' % (labels, total))
                lines.append('http_request_duration_seconds_count{%s} %d' % (labels, count))
            for name, value in sorted(self._counters.items()):
                lines.append('# TYPE %s counter' % name)
                lines.append('%s %d' % (name, value))
        return '\n'.join(lines) + '\n'


class Publisher(threading.Thread):
    """Owns the one RabbitMQ connection (pika's BlockingConnection is not thread-safe).

    Handlers hand it work through a queue and wait for the broker's confirm."""

    def __init__(self, config):
        super(Publisher, self).__init__(name='publisher', daemon=True)
        self._config = config
        self._work = queue.Queue()
        self._conn = None
        self._channel = None

    def _connect(self):
        params = pika.URLParameters(self._config['rabbitmq_url'])
        params.connection_attempts = 1
        params.socket_timeout = 3
        params.blocked_connection_timeout = 5
        self._conn = pika.BlockingConnection(params)
        self._channel = self._conn.channel()
        self._channel.confirm_delivery()
        self._channel.exchange_declare(self._config['exchange'], exchange_type='topic', durable=True)
        if self._config['events_queue']:
            self._channel.queue_declare(self._config['events_queue'], durable=True)
            self._channel.queue_bind(self._config['events_queue'], self._config['exchange'], routing_key='command.#')

    def _reset(self):
        try:
            if self._conn is not None and self._conn.is_open:
                self._conn.close()
        except Exception:  # pylint: disable=broad-except
            pass
        self._conn = None
        self._channel = None

    def _ensure(self):
        if self._conn is None or not self._conn.is_open or self._channel is None or not self._channel.is_open:
            self._reset()
            self._connect()

    def _publish(self, routing_key, event):
        props = pika.BasicProperties(content_type='application/json', delivery_mode=2,
                                     message_id=event['id'], app_id='flash-connect', timestamp=int(time.time()))
        # With confirms on, basic_publish returns once the broker acknowledged the message and
        # raises on a nack or (mandatory) when no queue took it.
        self._channel.basic_publish(self._config['exchange'], routing_key, json.dumps(event).encode(),
                                    properties=props, mandatory=True)

    def run(self):
        while True:
            try:
                op, args, done = self._work.get(timeout=1)
            except queue.Empty:
                try:
                    if self._conn is not None and self._conn.is_open:
                        self._conn.process_data_events(0)  # heartbeats
                except Exception:  # pylint: disable=broad-except
                    self._reset()
                continue
            error = None
            for attempt in (1, 2):
                try:
                    self._ensure()
                    if op == 'publish':
                        self._publish(*args)
                    else:  # ping: a dead socket shows up when the connection is used
                        self._conn.process_data_events(0)
                    error = None
                    break
                except Exception as exc:  # pylint: disable=broad-except
                    error = '%s: %s' % (type(exc).__name__, exc)
                    self._reset()
                    if isinstance(exc, (pika.exceptions.UnroutableError, pika.exceptions.NackError)):
                        break
            done['error'] = error
            done['event'].set()

    def submit(self, op, args=(), timeout=10.0):
        done = {'event': threading.Event(), 'error': 'timed out waiting for the broker'}
        self._work.put((op, args, done))
        done['event'].wait(timeout)
        return done['error']


class App(object):
    def __init__(self, config):
        self.config = config
        self.metrics = Metrics()
        self.draining = False
        rc = config['redis']
        self.redis = redis.Redis(host=rc['host'], port=rc['port'], db=rc['db'], username=rc['username'],
                                 password=rc['password'], socket_timeout=2, socket_connect_timeout=2,
                                 retry_on_timeout=False, health_check_interval=10)
        self.publisher = Publisher(config)
        self.publisher.start()

    # Checks ---------------------------------------------------------------------------------
    def check_redis(self):
        start = time.monotonic()
        try:
            self.redis.ping()
            return {'status': 'ok', 'latency_ms': round((time.monotonic() - start) * 1000, 1)}
        except Exception as exc:  # pylint: disable=broad-except
            return {'status': 'error', 'error': type(exc).__name__}

    def check_rabbitmq(self):
        start = time.monotonic()
        error = self.publisher.submit('ping', timeout=5)
        if error:
            return {'status': 'error', 'error': error.split(':', maxsplit=1)[0]}
        return {'status': 'ok', 'latency_ms': round((time.monotonic() - start) * 1000, 1)}

    def check_sessions(self):
        path = os.path.join(self.config['session_dir'], '.health-%s' % os.uname()[1])
        try:
            with open(path, 'w') as handle:
                handle.write(str(time.time()))
            os.unlink(path)
            return {'status': 'ok'}
        except OSError as exc:
            return {'status': 'error', 'error': exc.strerror}

    # Business -------------------------------------------------------------------------------
    def balance(self, user):
        key = 'flash:balance:%s' % user
        try:
            cached = self.redis.get(key)
        except Exception:  # pylint: disable=broad-except
            cached = None
            self.metrics.inc('balance_cache_errors_total')
        if cached is not None:
            self.metrics.inc('balance_cache_hits_total')
            answer = json.loads(cached)
            answer['source'] = 'cache'
            return answer
        self.metrics.inc('balance_cache_misses_total')
        self.metrics.inc('wallet_api_calls_total')
        time.sleep(self.config['wallet_latency'])  # the wallet API is the slow part
        sats = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) % 10000000
        answer = {'user': user, 'balance_sats': sats, 'currency': 'BTC', 'fetched_at': time.time()}
        try:
            self.redis.set(key, json.dumps(answer), ex=self.config['balance_ttl'])
        except Exception:  # pylint: disable=broad-except
            self.metrics.inc('balance_cache_errors_total')
        answer['source'] = 'wallet'
        return answer

    def command(self, body):
        user, name = body.get('user'), body.get('command')
        if not isinstance(user, str) or not USER_PATTERN.match(user):
            return 400, {'error': 'user must match %s' % USER_PATTERN.pattern}
        if name not in COMMANDS:
            return 400, {'error': 'command must be one of %s' % ', '.join(COMMANDS)}
        event = {'id': str(body.get('id') or uuid.uuid4()), 'user': user, 'command': name,
                 'version': VERSION, 'colour': self.config['colour'], 'ts': time.time()}
        result = self.balance(user) if name == 'balance' else {'ok': True}
        error = self.publisher.submit('publish', ('command.%s' % name, event))
        if error:
            self.metrics.inc('events_failed_total')
            log.warning('event %s not confirmed: %s', event['id'], error)
            return 503, {'error': 'event not confirmed by the broker', 'id': event['id']}
        self.metrics.inc('events_published_total')
        return 200, {'id': event['id'], 'event': 'published', 'result': result}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'flash-connect-reference'
    sys_version = ''
    timeout = 10  # idle keep-alive connections end, so a graceful stop does not wait forever
    app = None  # set in main()

    def _send(self, status, body, content_type='application/json'):
        data = body if isinstance(body, bytes) else (json.dumps(body) + '\n').encode()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        if self.app.draining:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)
        return status

    def _route(self, method, path):
        app = self.app
        if method == 'GET' and path == '/health':
            if BROKEN:
                return '/health', 500, {'status': 'broken', 'version': VERSION}
            return '/health', 200, {'status': 'ok', 'version': VERSION, 'colour': app.config['colour']}
        if method == 'GET' and path == '/health/live':
            return '/health/live', 200, {'status': 'ok'}
        if method == 'GET' and path in ('/health/ready', '/health/detailed'):
            checks = {'redis': app.check_redis(), 'rabbitmq': app.check_rabbitmq(), 'sessions': app.check_sessions()}
            healthy = all(c['status'] == 'ok' for c in checks.values()) and not BROKEN and not app.draining
            body = {'status': 'ok' if healthy else 'degraded', 'version': VERSION}
            if path == '/health/detailed':
                body.update(checks=checks, colour=app.config['colour'], node_env=app.config['node_env'],
                            otp=app.config['otp'], features=app.config['features'], draining=app.draining)
            return path, 200 if healthy else 503, body
        if method == 'GET' and path == '/metrics':
            return '/metrics', 200, app.metrics.render().encode()
        if BROKEN and path.startswith('/api/'):
            return path, 500, {'error': 'broken release'}
        if method == 'GET' and path == '/api/balance':
            user = (parse_qs(urlsplit(self.path).query).get('user') or [''])[0]
            if not USER_PATTERN.match(user):
                return path, 400, {'error': 'user must match %s' % USER_PATTERN.pattern}
            return path, 200, app.balance(user)
        if method == 'POST' and path == '/api/commands':
            try:
                length = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(min(length, 65536)) or b'{}')
            except ValueError:
                return path, 400, {'error': 'body must be JSON'}
            if not isinstance(body, dict):
                return path, 400, {'error': 'body must be a JSON object'}
            status, answer = app.command(body)
            return path, status, answer
        return 'unmatched', 404, {'error': 'not found'}

    def _handle(self, method):
        start = time.monotonic()
        path = urlsplit(self.path).path
        try:
            route, status, body = self._route(method, path)
        except Exception:  # pylint: disable=broad-except
            log.exception('error serving %s %s', method, path)
            route, status, body = path, 500, {'error': 'internal error'}
        ctype = 'text/plain; version=0.0.4' if route == '/metrics' else 'application/json'
        self._send(status, body, ctype)
        self.app.metrics.observe(method, route, status, time.monotonic() - start)

    def do_GET(self):
        self._handle('GET')

    def do_HEAD(self):
        self._handle('GET')

    def do_POST(self):
        self._handle('POST')

    def log_message(self, fmt, *args):
        if not self.path.startswith('/health'):
            log.info('%s %s', self.address_string(), fmt % args)


class Server(ThreadingHTTPServer):
    # Non-daemon request threads: server_close() waits for requests in flight (graceful stop).
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True


def main():
    logging.basicConfig(stream=sys.stdout, level=os.environ.get('LOG_LEVEL', 'INFO').upper(),
                        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    # pika logs every failed connection attempt with a traceback; the app logs one line itself.
    logging.getLogger('pika').setLevel(logging.CRITICAL)
    try:
        config = load_config(os.environ)
    except ConfigError as exc:
        log.critical('refusing to start: %s', exc)
        return 78  # EX_CONFIG
    app = App(config)
    Handler.app = app
    server = Server(('0.0.0.0', config['port']), Handler)

    def stop(signum, _frame):
        log.info('signal %d: draining, then stopping', signum)
        app.draining = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info('flash-connect reference app %s (%s, colour %s) listening on :%d%s', VERSION, config['node_env'],
             config['colour'] or '-', config['port'], ' [BROKEN RELEASE]' if BROKEN else '')
    server.serve_forever(poll_interval=0.5)
    server.server_close()
    log.info('stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
