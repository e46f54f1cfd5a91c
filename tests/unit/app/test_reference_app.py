# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reference app (tests/app/app.py) keeps the real app's contract: its validation, its
/health* answers, its body limit and what a refused body leaves on the connection, its metric
names. The HTTP server runs for real on a loopback port; Redis and RabbitMQ are absent (a
closed port), which the health answers must not care about."""

import http.client
import importlib.util
import json
import os
import socket
import threading

import pytest

APP_PATH = os.path.join(os.path.dirname(__file__), '..', '..', 'app', 'app.py')
spec = importlib.util.spec_from_file_location('reference_app', APP_PATH)
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


PRODUCTION = {
    'NODE_ENV': 'production', 'REDIS_HOST': '127.0.0.1', 'REDIS_PORT': '6379', 'RABBITMQ_URL': 'amqp://u:p@127.0.0.1:5672/v',
    'JWT_SECRET': 'j' * 32, 'ENCRYPTION_KEY': 'e' * 32, 'SESSION_SECRET': 's' * 32, 'WEBHOOK_SECRET': 'w' * 32,
    'ENCRYPTION_SALT': 'a' * 16, 'HASH_SALT': 'h' * 16,
}


def test_production_environment_is_accepted():
    config = ref.load_config(PRODUCTION)
    assert config['queue_name'] == 'flash_whatsapp_events'
    assert config['balance_ttl'] == 300
    assert config['redis'] == {'host': '127.0.0.1', 'port': 6379, 'db': 0, 'password': None}


@pytest.mark.parametrize('change, message', [
    ({'ENCRYPTION_SALT': 'a' * 15}, '"ENCRYPTION_SALT" length must be at least 16'),
    ({'HASH_SALT': None}, '"HASH_SALT" is required'),
    ({'JWT_SECRET': 'j' * 31}, '"JWT_SECRET" length must be at least 32'),
    ({'REDIS_PORT': None}, '"REDIS_PORT" is required'),
    ({'BALANCE_CACHE_TTL': 'soon'}, '"BALANCE_CACHE_TTL" must be a number'),
    ({'NODE_ENV': 'prod'}, '"NODE_ENV" must be one of'),
    ({'FLASH_API_URL': 'not a uri'}, '"FLASH_API_URL" must be a valid uri'),
    ({'OTP_LENGTH': '9'}, '"OTP_LENGTH" must be a number from 4 to 8'),
])
def test_validation_refuses_like_the_real_app(change, message):
    env = dict(PRODUCTION)
    for key, value in change.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    with pytest.raises(ref.ConfigError, match=message):
        ref.load_config(env)


def test_salts_are_not_required_outside_production():
    env = {k: v for k, v in PRODUCTION.items() if 'SALT' not in k}
    env['NODE_ENV'] = 'development'
    assert ref.load_config(env)['node_env'] == 'development'


def test_redis_username_is_not_read():
    # ioredis in the real app gets no user name: AUTH <password> authenticates `default`.
    config = ref.load_config(dict(PRODUCTION, REDIS_USERNAME='flash-app', REDIS_PASSWORD='pw'))
    assert 'username' not in config['redis']


@pytest.fixture(scope='module')
def server():
    port = free_port()
    config = ref.load_config(dict(PRODUCTION, PORT=str(port), REDIS_PORT=str(free_port()),
                                  RABBITMQ_URL='amqp://u:p@127.0.0.1:%d/v' % free_port(), APP_COLOUR='green'))
    app = ref.App(config)
    ref.Handler.app = app
    srv = ref.Server(('127.0.0.1', port), ref.Handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    yield port
    srv.shutdown()
    srv.server_close()


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, resp.read(), resp


@pytest.mark.parametrize('method, path', [('GET', '/health'), ('GET', '/health/ready'), ('GET', '/health/detailed'),
                                          ('GET', '/health/anything/deeper'), ('POST', '/health'), ('HEAD', '/health')])
def test_every_health_path_answers_ok_without_redis_or_rabbitmq(server, method, path):
    conn = http.client.HTTPConnection('127.0.0.1', server, timeout=5)
    status, body, resp = request(conn, method, path)
    assert status == 200
    if method != 'HEAD':
        assert json.loads(body) == {'status': 'ok'}
    assert resp.getheader('X-Reference-App-Colour') == 'green'


def test_healthz_is_not_a_health_path(server):
    conn = http.client.HTTPConnection('127.0.0.1', server, timeout=5)
    assert request(conn, 'GET', '/healthz')[0] == 404


@pytest.mark.parametrize('path', ['/nowhere', '/health', '/api/commands'])
def test_a_refused_200k_body_leaves_nothing_on_the_keepalive_connection(server, path):
    conn = http.client.HTTPConnection('127.0.0.1', server, timeout=5)
    body = b'{"user": "u1", "command": "nope", "pad": "' + b'x' * 200 * 1024 + b'"}'
    first = request(conn, 'POST', path, body, {'Content-Type': 'application/json'})
    assert first[0] in (200, 400, 404)
    # The same connection serves the next request cleanly.
    second = request(conn, 'GET', '/health')
    assert second[0] == 200 and json.loads(second[1]) == {'status': 'ok'}


def test_json_over_1mib_is_refused_with_413_and_the_connection_stays_clean(server):
    conn = http.client.HTTPConnection('127.0.0.1', server, timeout=5)
    body = b'{"pad": "' + b'x' * (1024 * 1024) + b'"}'
    status = request(conn, 'POST', '/api/commands', body, {'Content-Type': 'application/json'})[0]
    assert status == 413
    assert request(conn, 'GET', '/health/live')[0] == 200


def test_a_chunked_body_is_read_to_its_end(server):
    conn = http.client.HTTPConnection('127.0.0.1', server, timeout=5)
    chunks = iter([b'x' * 70000, b'y' * 70000])
    conn.request('POST', '/nowhere', body=chunks, encode_chunked=True, headers={'Transfer-Encoding': 'chunked'})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 404
    assert request(conn, 'GET', '/health')[0] == 200


def test_metrics_have_the_real_names_and_labels(server):
    conn = http.client.HTTPConnection('127.0.0.1', server, timeout=5)
    request(conn, 'GET', '/api/balance?user=bad%20user')
    request(conn, 'GET', '/health')
    status, raw = request(conn, 'GET', '/metrics')[:2]
    text = raw.decode()
    assert status == 200
    labels = 'method="GET",route="/api/balance",status_code="400"'
    assert 'http_request_count{%s} 1' % labels in text
    assert 'http_request_error_count{%s} 1' % labels in text
    assert 'http_request_duration_seconds_bucket{le="0.01",%s}' % labels in text
    assert 'http_request_duration_seconds_count{%s} 1' % labels in text
    assert 'route="/health"' not in text and 'route="/metrics"' not in text


class FakeRedis(object):
    """The few Redis commands the app uses, in memory: strings (bytes, like redis-py) and sets
    standing in for HyperLogLogs (PFCOUNT of several keys counts their union, as Redis does).
    Expiries are recorded, not enforced."""

    def __init__(self):
        self.lock = threading.Lock()
        self.strings, self.hlls, self.expiry = {}, {}, {}

    def get(self, key):
        with self.lock:
            return self.strings.get(key)

    def set(self, key, value, ex=None):
        with self.lock:
            self.strings[key] = value if isinstance(value, bytes) else str(value).encode()
            self.expiry[key] = ex
            return True

    def delete(self, *keys):
        with self.lock:
            return sum(1 for k in keys if self.strings.pop(k, None) is not None or self.hlls.pop(k, None) is not None)

    def pfadd(self, key, *values):
        with self.lock:
            members = self.hlls.setdefault(key, set())
            before = len(members)
            members.update(values)
            return int(len(members) != before)

    def pfcount(self, *keys):
        with self.lock:
            return len(set().union(*(self.hlls.get(k, set()) for k in keys)))

    def expire(self, key, seconds):
        with self.lock:
            self.expiry[key] = seconds
            return True

    def ping(self):
        return True


class DownRedis(object):
    """Every command fails as redis-py's do when the server is gone."""

    def __getattr__(self, name):
        def fail(*_args, **_kwargs):
            raise ref.redis.ConnectionError('Error 111 connecting to 127.0.0.1:6379. Connection refused.')
        return fail


@pytest.fixture
def app_server():
    """A fresh app (its counters at 0) on its own port; the test sets app.redis."""
    config = ref.load_config(dict(PRODUCTION, REDIS_PORT=str(free_port()), RABBITMQ_URL='amqp://u:p@127.0.0.1:%d/v' % free_port()))
    app = ref.App(config)
    handler = type('Handler', (ref.Handler,), {'app': app})
    srv = ref.Server(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    conn = http.client.HTTPConnection('127.0.0.1', srv.server_address[1], timeout=5)
    yield app, conn
    conn.close()  # else server_close() waits for the idle keep-alive connection's 10 s
    srv.shutdown()
    srv.server_close()


def command(conn, user, name, **extra):
    body = json.dumps(dict(extra, user=user, command=name))
    status, raw = request(conn, 'POST', '/api/commands', body, {'Content-Type': 'application/json'})[:2]
    return status, json.loads(raw)


def scrape(conn):
    status, raw, resp = request(conn, 'GET', '/metrics')
    assert status == 200
    assert resp.getheader('Content-Type') == 'text/plain; version=0.0.4; charset=utf-8'
    return raw.decode()


def samples(text):
    """{'name{labels}': value} of the exposition's sample lines."""
    return {line.rsplit(' ', 1)[0]: float(line.rsplit(' ', 1)[1]) for line in text.splitlines() if line and not line.startswith('#')}


def otp_key(user):
    return 'otp:' + ref.hashlib.sha256(user.encode()).hexdigest()


BUSINESS_COUNTERS = {
    'flash_session_creations_total': ('result', ('success', 'failure')),
    'flash_commands_total': ('command', ('balance', 'help', 'link', 'otp')),
    'flash_account_link_attempts_total': ('result', ('success', 'failure')),
    'flash_otp_verifications_total': ('result', ('success', 'failure')),
}


def test_business_series_exist_at_zero_from_the_start(app_server):
    app, conn = app_server
    app.redis = FakeRedis()
    text = scrape(conn)
    values = samples(text)
    for name, (label, label_values) in BUSINESS_COUNTERS.items():
        assert '# TYPE %s counter' % name in text
        assert '# HELP %s ' % name in text
        for value in label_values:
            assert values['%s{%s="%s"}' % (name, label, value)] == 0
        assert len([k for k in values if k.startswith(name + '{')]) == len(label_values)
    assert '# TYPE flash_otp_failed_attempts_max_1h gauge' in text
    assert values['flash_otp_failed_attempts_max_1h'] == 0
    assert '# TYPE flash_active_users gauge' in text
    assert values['flash_active_users{window="1d"}'] == 0
    assert values['flash_active_users{window="30d"}'] == 0


def test_sessions_commands_and_active_users_are_counted(app_server):
    app, conn = app_server
    app.redis = FakeRedis()
    assert command(conn, 'alice', 'help')[0] == 200
    assert command(conn, 'alice', 'help')[0] == 200   # her session exists: no second creation
    assert command(conn, 'bob', 'balance')[0] == 200
    values = samples(scrape(conn))
    assert values['flash_session_creations_total{result="success"}'] == 2
    assert values['flash_session_creations_total{result="failure"}'] == 0
    assert values['flash_commands_total{command="help"}'] == 2
    assert values['flash_commands_total{command="balance"}'] == 1
    assert values['flash_commands_total{command="link"}'] == 0
    assert values['flash_active_users{window="1d"}'] == 2
    assert values['flash_active_users{window="30d"}'] == 2
    today = ref.ACTIVE_USERS_PREFIX + ref.time.strftime('%Y-%m-%d', ref.time.gmtime())
    assert set(app.redis.hlls) == {today}
    assert app.redis.expiry[today] == 31 * 86400
    # A user seen on an earlier day counts in the 30 days, not in today's.
    app.redis.hlls[ref.active_user_keys(ref.time.time(), 30)[29]] = {'carol', 'x-' + 'alice'}
    app.redis.hlls[ref.active_user_keys(ref.time.time(), 31)[30]] = {'too-old'}
    values = samples(scrape(conn))
    assert values['flash_active_users{window="1d"}'] == 2
    assert values['flash_active_users{window="30d"}'] == 4


def test_a_failed_session_write_counts_a_failure_and_answers_500(app_server):
    app, conn = app_server
    fake = FakeRedis()

    def refuse(*_args, **_kwargs):
        raise ref.redis.ResponseError('READONLY You can\'t write against a read only replica.')
    fake.set = refuse
    app.redis = fake
    status, answer = command(conn, 'alice', 'help')
    assert status == 500 and answer['message'] == 'Failed to create user session'
    values = samples(scrape(conn))
    assert values['flash_session_creations_total{result="failure"}'] == 1
    assert values['flash_session_creations_total{result="success"}'] == 0
    assert values['flash_commands_total{command="help"}'] == 1


def test_link_stores_a_code_in_redis_never_in_the_answer_and_a_right_code_links(app_server):
    app, conn = app_server
    app.redis = FakeRedis()
    status, answer = command(conn, 'alice', 'link')
    assert status == 200 and answer['event'] == 'published' and answer['result'] == {'ok': True}
    code = app.redis.strings[otp_key('alice')].decode()
    assert len(code) == 6 and code.isdigit()
    assert app.redis.expiry[otp_key('alice')] == 300
    assert code not in json.dumps(answer)
    status, answer = command(conn, 'alice', 'otp', code=code)
    assert status == 200 and answer['result'] == {'ok': True, 'verified': True}
    assert otp_key('alice') not in app.redis.strings   # used: deleted, no reuse
    values = samples(scrape(conn))
    assert values['flash_otp_verifications_total{result="success"}'] == 1
    assert values['flash_account_link_attempts_total{result="success"}'] == 1
    assert values['flash_otp_verifications_total{result="failure"}'] == 0
    assert values['flash_account_link_attempts_total{result="failure"}'] == 0
    assert values['flash_otp_failed_attempts_max_1h'] == 0
    # The same code a second time: gone, so a failure.
    assert command(conn, 'alice', 'otp', code=code)[1]['result'] == {'ok': True, 'verified': False}
    assert samples(scrape(conn))['flash_otp_verifications_total{result="failure"}'] == 1


def test_otp_length_and_expiry_come_from_the_environment():
    config = ref.load_config(dict(PRODUCTION, OTP_LENGTH='8', OTP_EXPIRES_IN='120'))
    assert (config['otp_length'], config['otp_expiry']) == (8, 120)
    config = ref.load_config(PRODUCTION)
    assert (config['otp_length'], config['otp_expiry']) == (6, 300)


def test_failed_verifications_give_the_worst_user_of_the_hour(app_server):
    app, conn = app_server
    app.redis = FakeRedis()
    command(conn, 'alice', 'link')
    command(conn, 'bob', 'link')
    right = app.redis.strings[otp_key('alice')].decode()
    wrong = '%06d' % ((int(right) + 1) % 10 ** 6)
    assert command(conn, 'alice', 'otp', code=wrong)[1]['result']['verified'] is False
    assert command(conn, 'alice', 'otp')[1]['result']['verified'] is False        # no code at all
    assert command(conn, 'bob', 'otp', code='12')[1]['result']['verified'] is False
    assert otp_key('alice') in app.redis.strings   # a wrong code leaves the right one usable
    values = samples(scrape(conn))
    assert values['flash_otp_failed_attempts_max_1h'] == 2
    assert values['flash_otp_verifications_total{result="failure"}'] == 3
    assert values['flash_account_link_attempts_total{result="failure"}'] == 3
    assert values['flash_otp_verifications_total{result="success"}'] == 0
    # No code stored (never linked, or expired): a failure too.
    assert command(conn, 'carol', 'otp', code='123456')[1]['result']['verified'] is False
    assert samples(scrape(conn))['flash_otp_verifications_total{result="failure"}'] == 4
    # The right code afterwards links, and the failures still count for the hour.
    assert command(conn, 'alice', 'otp', code=right)[1]['result']['verified'] is True
    values = samples(scrape(conn))
    assert values['flash_otp_failed_attempts_max_1h'] == 2
    assert values['flash_account_link_attempts_total{result="success"}'] == 1


def test_failures_older_than_an_hour_no_longer_count():
    now = [1000.0]
    business = ref.BusinessMetrics(clock=lambda: now[0])
    business.otp_failed('alice')
    now[0] += 1800
    business.otp_failed('alice')
    business.otp_failed('bob')
    assert business.otp_failed_max_1h() == 2
    now[0] += 1801   # alice's first failure is past the hour
    assert business.otp_failed_max_1h() == 1
    now[0] += 3600
    assert business.otp_failed_max_1h() == 0
    assert 'flash_otp_failed_attempts_max_1h 0\n' in business.render()


def test_counting_is_thread_safe():
    business = ref.BusinessMetrics()

    def work():
        for dummy in range(2000):
            business.inc('flash_commands_total', 'help')
            business.otp_failed('alice')
    threads = [threading.Thread(target=work) for dummy in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert business.value('flash_commands_total', 'help') == 16000
    assert business.otp_failed_max_1h() == 16000


def test_metrics_answer_without_redis_and_leave_the_active_users_out(app_server):
    app, conn = app_server
    app.redis = DownRedis()
    assert command(conn, 'alice', 'otp', code='123456')[0] == 500   # no session without Redis
    text = scrape(conn)
    values = samples(text)
    assert 'flash_active_users' not in text
    assert values['flash_session_creations_total{result="failure"}'] == 1
    assert values['flash_commands_total{command="otp"}'] == 1
    assert values['flash_otp_failed_attempts_max_1h'] == 0
    assert 'http_request_count{method="POST",route="/api/commands",status_code="500"} 1' in text


def test_the_real_server_without_redis_still_serves_metrics(server):
    # The module's server: its Redis is a closed port.
    conn = http.client.HTTPConnection('127.0.0.1', server, timeout=10)
    status, raw = request(conn, 'GET', '/metrics')[:2]
    conn.close()
    assert status == 200
    assert 'flash_commands_total{command="balance"}' in raw.decode()
    assert 'flash_active_users' not in raw.decode()
