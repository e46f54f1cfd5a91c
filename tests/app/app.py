# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reference Flash Connect app for the collection's tests.

It stands in for the real image (lnflash/flash-whatsapp-service, NestJS) where no registry is
reachable, and honours the real app's contract, so the lab tests what production sees:

- Redis by REDIS_HOST/REDIS_PORT/REDIS_PASSWORD/REDIS_DB only: a password-only AUTH, which
  Redis gives to its `default` user (REDIS_USERNAME is not read, as ioredis there gets none).
- Every /health* path answers {"status": "ok"} before any route (the real app's middleware),
  whatever Redis or RabbitMQ do; nothing about the release is in the body.
- The validation of src/config/env.validation.ts: REDIS_HOST, REDIS_PORT and RABBITMQ_URL
  required; in production JWT_SECRET, ENCRYPTION_KEY, SESSION_SECRET, WEBHOOK_SECRET >= 32
  characters and ENCRYPTION_SALT, HASH_SALT >= 16; else it refuses to start.
- Events go to the durable queue RABBITMQ_QUEUE_NAME (flash_whatsapp_events) through the default
  exchange, and to the topic exchange pulse.events with routing key event.<type>.
- JSON bodies up to 1 MiB (express.json's '1mb'); a refused body is read and dropped (or the
  connection closed) so no byte of it stays on a keep-alive connection.
- Prometheus http_request_duration_seconds, http_request_count and http_request_error_count by
  method, route and status_code (not for /metrics and /health).
- The proposed business series of docs/metrics-contract.md, which the real app does not export
  yet: flash_session_creations_total, flash_commands_total, flash_account_link_attempts_total,
  flash_otp_verifications_total, flash_otp_failed_attempts_max_1h and flash_active_users. The two
  gauges keep their state in Redis, so every instance exports the service's value, not its own
  share (the proxy balances round robin, so one user's requests reach every replica): the active
  users a HyperLogLog per UTC day; the failed OTP verifications a sorted set per user
  (flash:otp_failures:<sha256 of the user>, one member per failure) and an index of the users
  with failures in the trailing hour (flash:otp_failures:users), read at each scrape. `link`
  stores a one-time code in Redis (otp:<sha256 of the user>), `otp` with {"code": ...} verifies
  it; the code is never in an HTTP answer (a test reads it from Redis: the real app sends it out
  of band).

Test-only, never read by the collection: the X-Reference-App-Version and X-Reference-App-Colour
response headers say which release and colour answered; build argument BROKEN=1 makes a release
whose /health and /api answer 500. Python 3 standard library plus Debian's python3-redis and
python3-pika; no systemd, no root, a read-only root filesystem.
"""

import hashlib
import hmac
import json
import logging
import os
import queue
import re
import secrets
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pika
import redis

# The real app's default security.sessionExpiry (SessionService): 24 hours.
SESSION_EXPIRY = 86400
# The real app's OtpService: 6 digits, 300 s (here OTP_LENGTH and OTP_EXPIRES_IN when set).
OTP_LENGTH = 6
OTP_EXPIRY = 300
OTP_FAILURE_WINDOW = 3600               # flash_otp_failed_attempts_max_1h: the trailing hour
OTP_FAILURES_PREFIX = 'flash:otp_failures:'  # + sha256 of the user: a sorted set, one member per failure
OTP_FAILURES_USERS = OTP_FAILURES_PREFIX + 'users'  # sha256 of the user -> epoch time of the last failure
# A scrape reads the failures of at most this many users (those whose last failure is the most
# recent): two round trips and at most 2 x 1000 commands per scrape, however many users fail.
# Beyond that many users with failures in the hour the gauge may undercount (a mass attack then
# shows in flash_otp_verifications_total{result="failure"}).
OTP_FAILURES_SCRAPE_LIMIT = 1000
ACTIVE_USERS_PREFIX = 'flash:active_users:'  # + the UTC day, YYYY-MM-DD: one HyperLogLog per day
ACTIVE_USERS_EXPIRY = 31 * 86400        # a day's key outlives the 30-day window by a day
RESULTS = ('failure', 'success')

VERSION = os.environ.get('APP_VERSION', '0.0.0')
BROKEN = os.environ.get('APP_BROKEN', '0') == '1'
NODE_ENVS = ('development', 'production', 'test', 'staging')
REQUIRED_SETTINGS = ('REDIS_HOST', 'REDIS_PORT', 'RABBITMQ_URL')
# Name -> minimum length, required in production (env.validation.ts).
PRODUCTION_SECRETS = (('JWT_SECRET', 32), ('ENCRYPTION_KEY', 32), ('ENCRYPTION_SALT', 16),
                      ('SESSION_SECRET', 32), ('HASH_SALT', 16), ('WEBHOOK_SECRET', 32))
NUMBERS = ('PORT', 'REDIS_PORT', 'REDIS_DB', 'OTP_EXPIRES_IN', 'OTP_MAX_ATTEMPTS', 'SESSION_EXPIRES_IN',
           'RATE_LIMIT_WINDOW_MS', 'RATE_LIMIT_MAX', 'AUTH_RATE_LIMIT_WINDOW_MS', 'AUTH_RATE_LIMIT_MAX',
           'PAYMENT_RATE_LIMIT_WINDOW_MS', 'PAYMENT_RATE_LIMIT_MAX', 'BALANCE_CACHE_TTL', 'PRICE_CACHE_TTL',
           'USERNAME_CACHE_TTL', 'EXCHANGE_RATE_CACHE_TTL')
EVENTS_EXCHANGE = 'pulse.events'  # the real app's rabbitmq.exchangeName default; no variable sets it
JSON_LIMIT = 1024 * 1024          # express.json({limit: '1mb'})
DRAIN_LIMIT = 10 * 1024 * 1024    # beyond this a refused body is not read: the connection closes
BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0)
USER_PATTERN = re.compile(r'^[A-Za-z0-9_.:+-]{1,64}$')
COMMANDS = ('balance', 'help', 'link', 'otp')
LOG_LEVELS = {'error': logging.ERROR, 'warn': logging.WARNING, 'warning': logging.WARNING, 'log': logging.INFO,
              'info': logging.INFO, 'debug': logging.DEBUG, 'verbose': logging.DEBUG}

log = logging.getLogger('flash-connect')


class ConfigError(Exception):
    pass


class BodyError(Exception):
    def __init__(self, status, message, close=False):
        super(BodyError, self).__init__(message)
        self.status, self.message, self.close = status, message, close


def _int(env, name, default):
    raw = env.get(name, '')
    if raw == '':
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError('"%s" must be a number' % name)


def _flag(value):
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')


def load_config(env):
    """Validate the environment the way the real app's Joi schema does; raise ConfigError naming
    every setting that fails."""
    errors = ['"%s" is required' % n for n in REQUIRED_SETTINGS if not env.get(n)]
    node_env = env.get('NODE_ENV') or 'development'
    if node_env not in NODE_ENVS:
        errors.append('"NODE_ENV" must be one of [%s]' % ', '.join(NODE_ENVS))
    if node_env == 'production':
        for name, minimum in PRODUCTION_SECRETS:
            if not env.get(name):
                errors.append('"%s" is required' % name)
            elif len(env[name]) < minimum:
                errors.append('"%s" length must be at least %d characters long' % (name, minimum))
    for name in NUMBERS:
        try:
            _int(env, name, 0)
        except ConfigError as exc:
            errors.append(str(exc))
    otp_length = env.get('OTP_LENGTH', '')
    if otp_length and (not otp_length.isdigit() or not 4 <= int(otp_length) <= 8):
        errors.append('"OTP_LENGTH" must be a number from 4 to 8')
    if env.get('FLASH_API_URL') and not re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://[^\s]+$', env['FLASH_API_URL']):
        errors.append('"FLASH_API_URL" must be a valid uri')
    if env.get('RABBITMQ_URL') and not re.match(r'^amqps?://', env['RABBITMQ_URL']):
        errors.append('"RABBITMQ_URL" must be an amqp:// or amqps:// URL')
    if errors:
        raise ConfigError('Config validation error: %s' % '. '.join(errors))
    otp_expiry = _int(env, 'OTP_EXPIRES_IN', OTP_EXPIRY)
    return {
        'node_env': node_env,
        'port': _int(env, 'PORT', 3000),
        'colour': env.get('APP_COLOUR', ''),
        'redis': {
            'host': env['REDIS_HOST'],
            'port': _int(env, 'REDIS_PORT', 6379),
            'db': _int(env, 'REDIS_DB', 0),
            'password': env.get('REDIS_PASSWORD') or None,
        },
        'rabbitmq_url': env['RABBITMQ_URL'],
        'queue_name': env.get('RABBITMQ_QUEUE_NAME') or 'flash_whatsapp_events',
        'balance_ttl': _int(env, 'BALANCE_CACHE_TTL', 300),
        'otp_expiry': otp_expiry if otp_expiry > 0 else OTP_EXPIRY,  # Redis refuses an expiry <= 0
        'otp_length': int(otp_length) if otp_length else OTP_LENGTH,
        'wallet_latency': _int(env, 'WALLET_LATENCY_MS', 100) / 1000.0,
        'whatsapp_web': not _flag(env.get('DISABLE_WHATSAPP_WEB', 'false')),
        'session_dir': env.get('WHATSAPP_SESSION_PATH', '/app/sessions'),
    }


class Metrics(object):
    """The real app's prom-client metrics: a duration histogram and two counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._hist = {}
        self._count = {}
        self._errors = {}

    def observe(self, method, route, status, seconds):
        key = (method, route, str(status))
        with self._lock:
            entry = self._hist.setdefault(key, [[0] * len(BUCKETS), 0, 0.0])
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    entry[0][i] += 1
            entry[1] += 1
            entry[2] += seconds
            self._count[key] = self._count.get(key, 0) + 1
            if status >= 400:
                self._errors[key] = self._errors.get(key, 0) + 1

    @staticmethod
    def _labels(key):
        method, route, status = (v.replace('\\', '\\\\').replace('"', '\\"') for v in key)
        return 'method="%s",route="%s",status_code="%s"' % (method, route, status)

    def render(self):
        lines = ['# HELP http_request_duration_seconds Duration of HTTP requests in seconds',
                 '# TYPE http_request_duration_seconds histogram']
        with self._lock:
            for key, (counts, count, total) in sorted(self._hist.items()):
                labels = self._labels(key)
                for bound, n in zip(BUCKETS, counts):
                    lines.append('http_request_duration_seconds_bucket{le="%s",%s} %d' % (('%g' % bound), labels, n))
                lines.append('http_request_duration_seconds_bucket{le="+Inf",%s} %d' % (labels, count))
                lines.append('http_request_duration_seconds_sum{%s} %.6f' % (labels, total))
                lines.append('http_request_duration_seconds_count{%s} %d' % (labels, count))
            for name, help_text, values in (('http_request_count', 'Counter for total HTTP requests', self._count),
                                            ('http_request_error_count', 'Counter for HTTP request errors', self._errors)):
                lines.append('# HELP %s %s' % (name, help_text))
                lines.append('# TYPE %s counter' % name)
                for key, value in sorted(values.items()):
                    lines.append('%s{%s} %d' % (name, self._labels(key), value))
        return '\n'.join(lines) + '\n'


def active_user_keys(now, days):
    """The HyperLogLog keys of the `days` UTC days up to and including the one of `now` (epoch
    seconds), newest first."""
    return [ACTIVE_USERS_PREFIX + time.strftime('%Y-%m-%d', time.gmtime(now - 86400 * i)) for i in range(days)]


class BusinessMetrics(object):
    """The proposed business series of docs/metrics-contract.md. Counters start at 0 for every
    label value they can take (a fixed set: the commands, success/failure), so each series exists
    from the first scrape; they count this process's requests. The two gauges are the service's:
    the App reads them from Redis at each scrape and hands them to render()."""

    COUNTERS = (
        ('flash_session_creations_total', 'Sessions the app tried to create, by outcome', 'result', RESULTS),
        ('flash_commands_total', 'Chat commands handled, by command', 'command', COMMANDS),
        ('flash_account_link_attempts_total', 'Account-linking attempts, by outcome', 'result', RESULTS),
        ('flash_otp_verifications_total', 'OTP verifications, by outcome', 'result', RESULTS),
    )

    def __init__(self):
        self._lock = threading.Lock()
        self._counters = {name: dict.fromkeys(values, 0) for name, _help, _label, values in self.COUNTERS}

    def inc(self, name, value):
        with self._lock:
            counter = self._counters[name]
            if value not in counter:
                raise ValueError('%s has no label value %r' % (name, value))
            counter[value] += 1

    def value(self, name, value):
        with self._lock:
            return self._counters[name][value]

    def render(self, active_users=None, otp_failed_max_1h=None):
        """The business series in the text format 0.0.4; active_users is {'1d': n, '30d': n} and
        otp_failed_max_1h a number, each None to leave its gauge out (Redis did not answer)."""
        lines = []
        with self._lock:
            for name, help_text, label, values in self.COUNTERS:
                lines.append('# HELP %s %s' % (name, help_text))
                lines.append('# TYPE %s counter' % name)
                for value in values:
                    lines.append('%s{%s="%s"} %d' % (name, label, value, self._counters[name][value]))
        if otp_failed_max_1h is not None:
            lines.append('# HELP flash_otp_failed_attempts_max_1h The largest number of failed OTP verifications of a single user '
                         'in the trailing hour')
            lines.append('# TYPE flash_otp_failed_attempts_max_1h gauge')
            lines.append('flash_otp_failed_attempts_max_1h %d' % otp_failed_max_1h)
        if active_users is not None:
            lines.append('# HELP flash_active_users Distinct users active across the service in the trailing window')
            lines.append('# TYPE flash_active_users gauge')
            for window in ('1d', '30d'):
                lines.append('flash_active_users{window="%s"} %d' % (window, active_users[window]))
        return '\n'.join(lines) + '\n'


class Publisher(threading.Thread):
    """Owns the one RabbitMQ connection (pika's BlockingConnection is not thread-safe).

    Publishes the way the real app does (src/modules/events/events.service.ts and
    services/event-dispatcher.service.ts): a plain channel from createChannel(), no publisher
    confirms, persistent messages, and the HTTP answer never waits for the broker. amqplib's
    publish() only writes into the connection's buffer: while the broker blocks publishing (a
    memory or disk alarm) the events wait in that buffer and the requests still answer 200; a
    publish on a lost channel is logged and dropped. The connection is made at start and
    re-made with a backoff like the real app's, logging each failure (a refused login shows in
    the container's log)."""

    def __init__(self, config):
        super(Publisher, self).__init__(name='publisher', daemon=True)
        self._config = config
        self._work = queue.Queue()
        self._conn = None
        self._channel = None
        self._next_attempt = 0.0
        self._failures = 0

    def _connect(self):
        params = pika.URLParameters(self._config['rabbitmq_url'])
        params.connection_attempts = 1
        params.socket_timeout = 3
        # No blocked_connection_timeout: amqplib has none, and the real app ignores the
        # broker's connection.blocked, so a blocked connection stays open until the alarm clears.
        self._conn = pika.BlockingConnection(params)
        self._channel = self._conn.channel()
        self._channel.queue_declare(self._config['queue_name'], durable=True)
        self._channel.exchange_declare(EVENTS_EXCHANGE, exchange_type='topic', durable=True)
        if self._failures:
            log.info('RabbitMQ connection re-established')
        self._failures = 0

    def _reset(self):
        try:
            if self._conn is not None and self._conn.is_open:
                self._conn.close()
        except Exception:  # pylint: disable=broad-except
            pass
        self._conn = None
        self._channel = None

    def _connected(self):
        return self._conn is not None and self._conn.is_open and self._channel is not None and self._channel.is_open

    def _reconnect_when_due(self):
        if self._connected() or time.monotonic() < self._next_attempt:
            return
        self._reset()
        try:
            self._connect()
        except Exception as exc:  # pylint: disable=broad-except
            self._reset()
            self._failures += 1
            self._next_attempt = time.monotonic() + min(2 ** min(self._failures, 5), 30)
            log.error('Failed to connect to RabbitMQ: %s', _describe(exc))

    def _publish(self, event_type, data):
        event = {'type': event_type, 'timestamp': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'data': data,
                 'id': data['id']}
        body = json.dumps(event).encode()
        props = pika.BasicProperties(content_type='application/json', delivery_mode=2, message_id=data['id'],
                                     timestamp=int(time.time()))
        # Without confirms basic_publish returns once the frames are written: nothing tells the
        # app whether the broker took them (the real app's sendToQueue/publish likewise).
        self._channel.basic_publish('', self._config['queue_name'], body, properties=props)
        self._channel.basic_publish(EVENTS_EXCHANGE, 'event.%s' % event_type, body, properties=props)

    def run(self):
        self._reconnect_when_due()
        while True:
            try:
                event_type, data = self._work.get(timeout=1)
            except queue.Empty:
                try:
                    if self._connected():
                        self._conn.process_data_events(0)  # heartbeats
                except Exception:  # pylint: disable=broad-except
                    self._reset()
                self._reconnect_when_due()
                continue
            self._reconnect_when_due()
            if not self._connected():
                log.warning('Cannot publish event %s: RabbitMQ channel not available', data['id'])
                continue
            try:
                self._publish(event_type, data)
            except Exception as exc:  # pylint: disable=broad-except
                log.error('Failed to publish event %s: %s', data['id'], _describe(exc))
                self._reset()

    def publish(self, event_type, data):
        """Hand the event over and return at once, as the real app's publish does."""
        self._work.put((event_type, data))


def _describe(exc):
    text = str(exc) or repr(exc)
    return '%s: %s' % (type(exc).__name__, text)


class RedisWatch(threading.Thread):
    """ioredis connects at start and logs every connection error while it retries; this does
    the same (WRONGPASS of a wrong password shows in the container's log)."""

    def __init__(self, client):
        super(RedisWatch, self).__init__(name='redis-watch', daemon=True)
        self._client = client
        self.ok = None

    def run(self):
        while True:
            try:
                self._client.ping()
                if self.ok is not True:
                    log.info('Redis connection ready')
                self.ok = True
            except Exception as exc:  # pylint: disable=broad-except
                log.error('Redis connection error: %s', _describe(exc))
                self.ok = False
            time.sleep(2)


class App(object):
    # Epoch seconds: the OTP failures' scores, compared by every instance (tests replace it).
    clock = staticmethod(time.time)

    def __init__(self, config):
        self.config = config
        self.metrics = Metrics()
        self.business = BusinessMetrics()
        self.draining = False
        rc = config['redis']
        # Password only: redis-py sends AUTH <password>, which Redis gives to the default user.
        self.redis = redis.Redis(host=rc['host'], port=rc['port'], db=rc['db'], password=rc['password'],
                                 socket_timeout=2, socket_connect_timeout=2,
                                 health_check_interval=10)
        RedisWatch(self.redis).start()
        self.publisher = Publisher(config)
        self.publisher.start()

    def balance(self, user):
        key = 'flash:balance:%s' % user
        try:
            cached = self.redis.get(key)
        except Exception as exc:  # pylint: disable=broad-except
            log.warning('balance cache read failed: %s', _describe(exc))
            cached = None
        if cached is not None:
            answer = json.loads(cached)
            answer['source'] = 'cache'
            return answer
        time.sleep(self.config['wallet_latency'])  # the wallet API is the slow part
        sats = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) % 10000000
        answer = {'user': user, 'balance_sats': sats, 'currency': 'BTC', 'fetched_at': time.time()}
        try:
            self.redis.set(key, json.dumps(answer), ex=self.config['balance_ttl'])
        except Exception as exc:  # pylint: disable=broad-except
            log.warning('balance cache write failed: %s', _describe(exc))
        answer['source'] = 'wallet'
        return answer

    def session(self, user):
        """The user's session, as the real app's SessionService keeps it in Redis: an index key
        (whatsapp:<sha256 of the id>) names session:<id>; a user without one gets a new session,
        both keys written with the session expiry (24 h). A failed read counts as no session and a
        failed write raises, so a chat command needs a working Redis master. A new session counts
        as flash_session_creations_total{result="success"}, a failed write as "failure"; finding
        the user's session creates nothing."""
        index = 'whatsapp:' + hashlib.sha256(user.encode()).hexdigest()
        try:
            found = self.redis.get(index)
        except Exception as exc:  # pylint: disable=broad-except
            log.warning('Error getting session by WhatsApp ID: %s', _describe(exc))
            found = None
        if found:
            return found
        session_id = uuid.uuid4().hex
        created = time.time()
        record = {'sessionId': session_id, 'whatsappId': user, 'isVerified': False,
                  'createdAt': created, 'expiresAt': created + SESSION_EXPIRY}
        try:
            self.redis.set('session:' + session_id, json.dumps(record), ex=SESSION_EXPIRY)
            self.redis.set(index, session_id, ex=SESSION_EXPIRY)
        except Exception:
            self.business.inc('flash_session_creations_total', 'failure')
            raise
        self.business.inc('flash_session_creations_total', 'success')
        return session_id

    @staticmethod
    def _otp_key(user):
        return 'otp:' + hashlib.sha256(user.encode()).hexdigest()

    def link(self, user):
        """Start linking the user's account, as the real app's `link` does: a one-time code of
        OTP_LENGTH digits (6) in Redis for OTP_EXPIRES_IN seconds (300), replacing any earlier one.
        The real app sends the code out of band (its OtpService keeps only a hash of it); the
        reference app has no such channel, so it keeps the code itself under otp:<sha256 of the
        user>, where a test with access to Redis reads it. The code is never in the answer.
        A failed write raises."""
        length = self.config['otp_length']
        code = str(secrets.randbelow(10 ** length)).zfill(length)
        self.redis.set(self._otp_key(user), code, ex=self.config['otp_expiry'])

    def verify_otp(self, user, code):
        """Check the user's one-time code: a match deletes it (no reuse) and counts success; a
        wrong, missing or expired code, or a Redis read that fails, counts failure (the real app's
        verifyOtp answers false then) and records the user's failure in Redis (otp_failed)."""
        if isinstance(code, int) and not isinstance(code, bool):
            code = str(code)
        key = self._otp_key(user)
        try:
            stored = self.redis.get(key)
        except Exception as exc:  # pylint: disable=broad-except
            log.warning('Error verifying OTP: %s', _describe(exc))
            stored = None
        if isinstance(stored, bytes):
            stored = stored.decode('utf-8', 'replace')
        ok = isinstance(code, str) and stored is not None and hmac.compare_digest(code.encode(), stored.encode())
        if ok:
            try:
                self.redis.delete(key)
            except Exception as exc:  # pylint: disable=broad-except
                log.warning('Error deleting a used OTP: %s', _describe(exc))
        result = 'success' if ok else 'failure'
        self.business.inc('flash_otp_verifications_total', result)
        self.business.inc('flash_account_link_attempts_total', result)
        if not ok:
            self.otp_failed(user)
        return ok

    def otp_failed(self, user):
        """Record one failed verification of the user where every instance sees it: the proxy
        spreads one user's attempts over the replicas, so a count per instance would be a share
        of the user's failures (3 and 3 of 6 with two replicas) and the alert would not fire.
        In one MULTI/EXEC, so the failure and its index entry land together: a member of the
        user's sorted set (a unique member, scored with the time), whose failures older than the
        window go and which expires with the window; and the user's entry in the index, scored
        with the time of this last failure, which the scrape reads instead of scanning the keys.
        Keys and members carry sha256 of the user, never the id. No lock: Redis runs each
        MULTI/EXEC whole, and redis-py's client is shared safely by the request threads (a
        pipeline is the calling thread's own). A failed write is logged and changes nothing else:
        the answer is the verification's."""
        digest = hashlib.sha256(user.encode()).hexdigest()
        key = OTP_FAILURES_PREFIX + digest
        now = self.clock()
        try:
            pipe = self.redis.pipeline()
            pipe.zadd(key, {uuid.uuid4().hex: now})
            pipe.zremrangebyscore(key, '-inf', now - OTP_FAILURE_WINDOW)
            pipe.expire(key, OTP_FAILURE_WINDOW)
            pipe.zadd(OTP_FAILURES_USERS, {digest: now})
            pipe.zremrangebyscore(OTP_FAILURES_USERS, '-inf', now - OTP_FAILURE_WINDOW)
            pipe.expire(OTP_FAILURES_USERS, OTP_FAILURE_WINDOW)
            pipe.execute()
        except Exception as exc:  # pylint: disable=broad-except
            log.warning('Error recording a failed OTP verification: %s', _describe(exc))

    def otp_failed_max_1h(self):
        """The most failures one user had in the trailing hour, across the service (0 when
        none), or None when Redis does not answer. Two round trips: the index loses the users
        whose last failure is older than the window and gives the OTP_FAILURES_SCRAPE_LIMIT users
        with the most recent failures; then each of those users' sets loses its old failures and
        is counted (ZCARD). A failure exactly one window old is out, at both steps."""
        cutoff = self.clock() - OTP_FAILURE_WINDOW
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.zremrangebyscore(OTP_FAILURES_USERS, '-inf', cutoff)
            pipe.zrevrange(OTP_FAILURES_USERS, 0, OTP_FAILURES_SCRAPE_LIMIT - 1)
            digests = pipe.execute()[1]
            if not digests:
                return 0
            pipe = self.redis.pipeline(transaction=False)
            for digest in digests:
                key = OTP_FAILURES_PREFIX + (digest.decode() if isinstance(digest, bytes) else digest)
                pipe.zremrangebyscore(key, '-inf', cutoff)
                pipe.zcard(key)
            return max(int(count) for count in pipe.execute()[1::2])
        except Exception as exc:  # pylint: disable=broad-except
            log.warning('flash_otp_failed_attempts_max_1h left out: Redis did not answer: %s', _describe(exc))
            return None

    def mark_active(self, user):
        """Add the user to today's HyperLogLog (UTC day), kept 31 days: every instance counts
        into the same keys, so flash_active_users is the service's, not the instance's."""
        key = active_user_keys(time.time(), 1)[0]
        try:
            self.redis.pfadd(key, hashlib.sha256(user.encode()).hexdigest())
            self.redis.expire(key, ACTIVE_USERS_EXPIRY)
        except Exception as exc:  # pylint: disable=broad-except
            log.warning('Error counting an active user: %s', _describe(exc))

    def active_users(self):
        """{'1d': PFCOUNT of today's key, '30d': PFCOUNT of the last 30 days' keys together},
        or None when Redis does not answer (the gauge is left out; /metrics still answers)."""
        keys = active_user_keys(time.time(), 30)
        try:
            return {'1d': int(self.redis.pfcount(keys[0])), '30d': int(self.redis.pfcount(*keys))}
        except Exception as exc:  # pylint: disable=broad-except
            log.warning('flash_active_users left out: Redis did not answer: %s', _describe(exc))
            return None

    def render_metrics(self):
        """The app's series, then the business series. A Redis-backed gauge that Redis does not
        answer for is left out, not reported as 0: a gauge that would lie (no failures, no users)
        is worse than an absent one, which the rules and dashboards show as no data. When the
        active users got no answer the OTP gauge is left out too, without asking Redis again, so
        a scrape waits for at most one Redis timeout (2 s); /metrics answers 200 either way."""
        active_users = self.active_users()
        otp_failed_max_1h = self.otp_failed_max_1h() if active_users is not None else None
        return self.metrics.render() + self.business.render(active_users, otp_failed_max_1h)

    def command(self, body):
        user, name = body.get('user'), body.get('command')
        if not isinstance(user, str) or not USER_PATTERN.match(user):
            return 400, {'statusCode': 400, 'message': 'user must match %s' % USER_PATTERN.pattern}
        if name not in COMMANDS:
            return 400, {'statusCode': 400, 'message': 'command must be one of %s' % ', '.join(COMMANDS)}
        data = {'id': str(body.get('id') or uuid.uuid4()), 'user': user, 'command': name,
                'version': VERSION, 'colour': self.config['colour']}
        self.business.inc('flash_commands_total', name)
        try:
            self.session(user)
        except Exception as exc:  # pylint: disable=broad-except
            # The real app's SessionService.createSession: a failed write fails the request.
            log.error('Error creating session: %s', _describe(exc))
            return 500, {'statusCode': 500, 'message': 'Failed to create user session'}
        # After the session: Redis answered, so a down Redis does not slow the answer further.
        self.mark_active(user)
        if name == 'balance':
            result = self.balance(user)
        elif name == 'link':
            try:
                self.link(user)
            except Exception as exc:  # pylint: disable=broad-except
                # The real app's OtpService.generateOtp: 'Failed to generate OTP'; the attempt failed.
                log.error('Error generating OTP: %s', _describe(exc))
                self.business.inc('flash_account_link_attempts_total', 'failure')
                return 500, {'statusCode': 500, 'message': 'Failed to generate OTP'}
            result = {'ok': True}
        elif name == 'otp':
            result = {'ok': True, 'verified': self.verify_otp(user, body.get('code'))}
        else:
            result = {'ok': True}
        # The real app awaits publishEvent() and ignores what it returns: the answer is the same
        # whether the broker took the event, blocks publishing, or the channel is gone.
        self.publisher.publish('message.received', data)
        return 200, {'id': data['id'], 'event': 'published', 'result': result}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'flash-connect-reference'
    sys_version = ''
    timeout = 10  # idle keep-alive connections end, so a graceful stop does not wait forever
    app = None  # set in main()

    def _send(self, status, body, content_type='application/json; charset=utf-8', close=False):
        data = body if isinstance(body, bytes) else (json.dumps(body) + '\n').encode()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('X-Reference-App-Version', VERSION)
        self.send_header('X-Reference-App-Colour', self.app.config['colour'])
        if close or self.app.draining:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)
        return status

    def _discard(self, length):
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                raise BodyError(400, 'request body ended early', close=True)
            length -= len(chunk)

    def _read_chunked(self):
        body, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b';')[0].strip() or b'x', 16)
            except ValueError:
                raise BodyError(400, 'bad chunked body', close=True)
            if size == 0:
                while self.rfile.readline(1024) not in (b'\r\n', b'\n', b''):
                    pass  # trailers
                break
            total += size
            if total > DRAIN_LIMIT:
                raise BodyError(413, 'request entity too large', close=True)
            data = self.rfile.read(size)
            self.rfile.readline(16)
            if total <= JSON_LIMIT:
                body.append(data)
        if total > JSON_LIMIT:
            raise BodyError(413, 'request entity too large')
        return b''.join(body)

    def _read_body(self):
        """Read the whole request body, whatever the route does with it: a refused or unused
        body never stays on the connection (the next request on it would start mid-body)."""
        if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
            return self._read_chunked()
        raw = self.headers.get('Content-Length')
        if raw is None:
            return b''
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            raise BodyError(400, 'bad Content-Length', close=True)
        if length > JSON_LIMIT:
            if length > DRAIN_LIMIT:
                raise BodyError(413, 'request entity too large', close=True)
            self._discard(length)
            raise BodyError(413, 'request entity too large')
        return self.rfile.read(length) if length else b''

    def _route(self, method, path, body):
        app = self.app
        method = 'GET' if method == 'HEAD' else method
        # The real app's app.use('/health', ...): /health and everything below it, any method.
        if path == '/health' or path.startswith('/health/'):
            if BROKEN:
                # A broken release logs the error behind each 500, as Nest's exception filter does.
                log.error('BROKEN RELEASE: %s answers 500', path)
                return path, 500, {'status': 'error'}
            return path, 200, {'status': 'ok'}
        if method == 'GET' and path == '/metrics':
            return '/metrics', 200, app.render_metrics().encode()
        if BROKEN and path.startswith('/api/'):
            return path, 500, {'statusCode': 500, 'message': 'broken release'}
        if method == 'GET' and path == '/api/balance':
            user = (parse_qs(urlsplit(self.path).query).get('user') or [''])[0]
            if not USER_PATTERN.match(user):
                return path, 400, {'statusCode': 400, 'message': 'user must match %s' % USER_PATTERN.pattern}
            return path, 200, app.balance(user)
        if method == 'POST' and path == '/api/commands':
            try:
                parsed = json.loads(body or b'{}')
            except ValueError:
                return path, 400, {'statusCode': 400, 'message': 'body must be JSON'}
            if not isinstance(parsed, dict):
                return path, 400, {'statusCode': 400, 'message': 'body must be a JSON object'}
            status, answer = app.command(parsed)
            return path, status, answer
        return path, 404, {'statusCode': 404, 'message': 'Cannot %s %s' % (method, path), 'error': 'Not Found'}

    def _handle(self, method):
        start = time.monotonic()
        path = urlsplit(self.path).path
        close = False
        try:
            body = self._read_body()
            route, status, answer = self._route(method, path, body)
        except BodyError as exc:
            route, status, answer, close = path, exc.status, {'statusCode': exc.status, 'message': exc.message}, exc.close
        except Exception:  # pylint: disable=broad-except
            log.exception('error serving %s %s', method, path)
            route, status, answer = path, 500, {'statusCode': 500, 'message': 'Internal server error'}
        ctype = 'text/plain; version=0.0.4; charset=utf-8' if route == '/metrics' else 'application/json; charset=utf-8'
        self._send(status, answer, ctype, close=close)
        if route not in ('/metrics', '/health'):
            self.app.metrics.observe(method, route, status, time.monotonic() - start)

    def do_GET(self):
        self._handle('GET')

    def do_HEAD(self):
        self._handle('HEAD')

    def do_POST(self):
        self._handle('POST')

    def do_PUT(self):
        self._handle('PUT')

    def do_DELETE(self):
        self._handle('DELETE')

    def log_message(self, fmt, *args):
        if not self.path.startswith('/health'):
            log.info('%s %s', self.address_string(), fmt % args)


class Server(ThreadingHTTPServer):
    # Non-daemon request threads: server_close() waits for requests in flight (graceful stop).
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that resets or drops its connection (a probe timing out, a health check) is
        # not the app's error: Node's HTTP server logs nothing for it. socketserver's default
        # prints a whole traceback per reset, which buried the release's own log lines in the
        # tail a failed deploy shows.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, TimeoutError)):
            log.debug('client %s went away: %s', client_address[0], exc)
            return
        log.exception('error while serving %s', client_address[0])


def main():
    level = LOG_LEVELS.get(os.environ.get('LOG_LEVEL', 'info').strip().lower(), logging.INFO)
    logging.basicConfig(stream=sys.stdout, level=level, format='%(asctime)s %(levelname)s %(name)s %(message)s')
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
