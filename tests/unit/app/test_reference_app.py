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


def score_bound(value):
    """A ZREMRANGEBYSCORE bound as Redis reads it: -inf, +inf, a number, or (number (exclusive)."""
    text = str(value)
    exclusive = text.startswith('(')
    return float(text[1:] if exclusive else text), exclusive


class FakeRedis(object):
    """The few Redis commands the app uses, in memory: strings (bytes, like redis-py), sets
    standing in for HyperLogLogs (PFCOUNT of several keys counts their union, as Redis does) and
    sorted sets (member -> score). Expiries are recorded, not enforced. A pipeline queues its
    commands and runs them in order under the lock when executed (MULTI/EXEC's all together);
    whether it asked for a transaction is recorded."""

    def __init__(self):
        self.lock = threading.RLock()
        self.strings, self.hlls, self.zsets, self.expiry = {}, {}, {}, {}
        self.transactions = []  # each pipeline's `transaction` (MULTI/EXEC or not)

    def keys(self):
        """Every key held, whatever its type."""
        with self.lock:
            return set(self.strings) | set(self.hlls) | set(self.zsets)

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
            return sum(1 for k in keys if any(store.pop(k, None) is not None for store in (self.strings, self.hlls, self.zsets)))

    def pfadd(self, key, *values):
        with self.lock:
            members = self.hlls.setdefault(key, set())
            before = len(members)
            members.update(values)
            return int(len(members) != before)

    def pfcount(self, *keys):
        with self.lock:
            return len(set().union(*(self.hlls.get(k, set()) for k in keys)))

    def zadd(self, key, mapping):
        with self.lock:
            zset = self.zsets.setdefault(key, {})
            added = sum(1 for member in mapping if member not in zset)
            zset.update((m if isinstance(m, bytes) else str(m).encode(), float(s)) for m, s in mapping.items())
            return added

    def zremrangebyscore(self, key, low, high):
        (low, low_open), (high, high_open) = score_bound(low), score_bound(high)
        with self.lock:
            zset = self.zsets.get(key, {})
            gone = [m for m, s in zset.items() if (s > low if low_open else s >= low) and (s < high if high_open else s <= high)]
            for member in gone:
                del zset[member]
            if not zset:
                self.zsets.pop(key, None)
            return len(gone)

    def zcard(self, key):
        with self.lock:
            return len(self.zsets.get(key, {}))

    def zrevrange(self, key, start, end):
        with self.lock:
            ordered = sorted(self.zsets.get(key, {}).items(), key=lambda item: (-item[1], item[0]))
            return [m for m, s in ordered[start:None if end == -1 else end + 1]]

    def expire(self, key, seconds):
        with self.lock:
            self.expiry[key] = seconds
            return True

    def ping(self):
        return True

    def pipeline(self, transaction=True):
        self.transactions.append(transaction)
        return FakePipeline(self)


class FakePipeline(object):
    """redis-py's pipeline over a FakeRedis: each command is queued, execute() runs them all and
    returns their answers in order."""

    def __init__(self, redis):
        self.redis, self.queued = redis, []

    def __getattr__(self, name):
        def queue(*args, **kwargs):
            self.queued.append((getattr(self.redis, name), args, kwargs))
            return self
        return queue

    def execute(self):
        with self.redis.lock:
            answers = [method(*args, **kwargs) for method, args, kwargs in self.queued]
        self.queued = []
        return answers


class DownRedis(object):
    """Every command fails as redis-py's do when the server is gone."""

    def __getattr__(self, name):
        def fail(*_args, **_kwargs):
            raise ref.redis.ConnectionError('Error 111 connecting to 127.0.0.1:6379. Connection refused.')
        return fail


def start_app_server():
    """A fresh app (its counters at 0) on its own port: (app, connection, stop)."""
    config = ref.load_config(dict(PRODUCTION, REDIS_PORT=str(free_port()), RABBITMQ_URL='amqp://u:p@127.0.0.1:%d/v' % free_port()))
    app = ref.App(config)
    handler = type('Handler', (ref.Handler,), {'app': app})
    srv = ref.Server(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    conn = http.client.HTTPConnection('127.0.0.1', srv.server_address[1], timeout=5)

    def stop():
        conn.close()  # else server_close() waits for the idle keep-alive connection's 10 s
        srv.shutdown()
        srv.server_close()
    return app, conn, stop


@pytest.fixture
def app_server():
    """A fresh app on its own port; the test sets app.redis."""
    app, conn, stop = start_app_server()
    yield app, conn
    stop()


@pytest.fixture
def two_app_servers():
    """Two replicas of the app, as the proxy balances over them; the test gives them one Redis."""
    first, second = start_app_server(), start_app_server()
    yield first[:2], second[:2]
    first[2]()
    second[2]()


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


def failures_key(user):
    return 'flash:otp_failures:' + ref.hashlib.sha256(user.encode()).hexdigest()


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
    assert app.redis.zsets == {}   # a successful verification records no failure
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
    assert values['flash_otp_failed_attempts_max_1h'] == 2   # alice's 2, not the 3 of alice and bob together
    assert app.redis.zcard(failures_key('alice')) == 2 and app.redis.zcard(failures_key('bob')) == 1
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


def test_failures_older_than_an_hour_drop_out(app_server):
    app, conn = app_server
    app.redis = FakeRedis()
    now = [1700000000.0]
    app.clock = lambda: now[0]
    app.otp_failed('alice')
    assert app.redis.transactions == [True]   # the failure and its index entry: one MULTI/EXEC
    now[0] += 1800
    app.otp_failed('alice')
    app.otp_failed('bob')
    assert app.otp_failed_max_1h() == 2
    index = app.redis.zsets['flash:otp_failures:users']
    assert sorted(index.values()) == [now[0], now[0]]   # each user scored with the last failure
    assert app.redis.expiry[failures_key('alice')] == 3600
    assert app.redis.expiry['flash:otp_failures:users'] == 3600
    now[0] += 1800   # alice's first failure is exactly an hour old: out
    assert app.otp_failed_max_1h() == 1
    assert app.redis.zcard(failures_key('alice')) == 1   # pruned at the scrape
    now[0] += 1799
    assert app.otp_failed_max_1h() == 1   # alice's and bob's last failures: 3599 s old
    now[0] += 1
    assert samples(scrape(conn))['flash_otp_failed_attempts_max_1h'] == 0
    # The index is empty (gone); the users' sets, no longer read, end by their expiry: an hour
    # after their last failure, i.e. now (FakeRedis records expiries, Redis enforces them).
    assert set(app.redis.zsets) == {failures_key('alice'), failures_key('bob')}


def test_the_scrape_reads_a_bounded_number_of_users(app_server, monkeypatch):
    # At most OTP_FAILURES_SCRAPE_LIMIT users, those with the most recent failures.
    app = app_server[0]
    app.redis = FakeRedis()
    monkeypatch.setattr(ref, 'OTP_FAILURES_SCRAPE_LIMIT', 2)
    now = [1700000000.0]
    app.clock = lambda: now[0]
    for dummy in range(4):
        app.otp_failed('oldest')
    for user in ('u1', 'u1', 'u2', 'u2', 'u2'):
        now[0] += 1
        app.otp_failed(user)
    assert app.otp_failed_max_1h() == 3   # u2's 3 and u1's 2 read; 'oldest' (4) beyond the bound
    counted = []
    original = app.redis.zcard
    app.redis.zcard = lambda key: counted.append(key) or original(key)
    app.otp_failed_max_1h()
    assert sorted(counted) == sorted([failures_key('u1'), failures_key('u2')])
    assert ref.OTP_FAILURES_SCRAPE_LIMIT == 2 and 'flash:otp_failures:users' in app.redis.zsets


def test_the_stored_failures_carry_no_user_id(app_server):
    app, conn = app_server
    app.redis = FakeRedis()
    user = 'mallory-4155550100'
    command(conn, user, 'link')
    for dummy in range(3):
        command(conn, user, 'otp', code='000000')
    assert samples(scrape(conn))['flash_otp_failed_attempts_max_1h'] == 3
    stored = list(app.redis.keys()) + list(app.redis.expiry)
    stored += [member.decode() for zset in app.redis.zsets.values() for member in zset]
    assert failures_key(user) in stored and 'flash:otp_failures:users' in stored
    assert not [text for text in stored if user in text]
    assert ref.hashlib.sha256(user.encode()).hexdigest().encode() in app.redis.zsets['flash:otp_failures:users']


def test_a_failed_record_is_logged_and_the_answer_stays(app_server, caplog):
    app, conn = app_server
    fake = FakeRedis()
    app.redis = fake
    command(conn, 'mallory', 'link')
    code = fake.strings[otp_key('mallory')].decode()

    def refuse(*_args, **_kwargs):
        raise ref.redis.ResponseError('READONLY You can\'t write against a read only replica.')
    fake.pipeline = refuse
    caplog.clear()
    status, answer = command(conn, 'mallory', 'otp', code='999999' if code != '999999' else '000000')
    assert status == 200 and answer['result'] == {'ok': True, 'verified': False}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == 'WARNING' and 'failed OTP' in r.getMessage()]
    assert warnings == ['Error recording a failed OTP verification: ResponseError: READONLY You can\'t write against a read only replica.']
    assert not [r for r in caplog.records if 'mallory' in r.getMessage() or code in r.getMessage()]
    # The scrape cannot read the failures either: the gauge is left out, the active users are not.
    text = scrape(conn)
    assert 'flash_otp_failed_attempts_max_1h' not in text
    assert samples(text)['flash_active_users{window="1d"}'] == 1
    assert samples(text)['flash_otp_verifications_total{result="failure"}'] == 1


def test_counting_is_thread_safe(app_server):
    app = app_server[0]
    app.redis = FakeRedis()
    app.clock = lambda: 1700000000.0   # every failure in the same second still counts once
    business = ref.BusinessMetrics()

    def work():
        for dummy in range(500):
            business.inc('flash_commands_total', 'help')
            app.otp_failed('alice')
    threads = [threading.Thread(target=work) for dummy in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert business.value('flash_commands_total', 'help') == 4000
    assert app.otp_failed_max_1h() == 4000


def test_metrics_answer_without_redis_and_leave_the_redis_gauges_out(app_server):
    app, conn = app_server
    app.redis = DownRedis()
    assert command(conn, 'alice', 'otp', code='123456')[0] == 500   # no session without Redis
    text = scrape(conn)
    values = samples(text)
    assert 'flash_active_users' not in text
    assert 'flash_otp_failed_attempts_max_1h' not in text   # absent, not a 0 that would lie
    assert values['flash_session_creations_total{result="failure"}'] == 1
    assert values['flash_commands_total{command="otp"}'] == 1
    assert 'http_request_count{method="POST",route="/api/commands",status_code="500"} 1' in text
    # An answer of false with Redis down (the read failed) cannot be recorded: logged, still false.
    assert app.verify_otp('alice', '123456') is False
    assert app.otp_failed_max_1h() is None


def test_the_real_server_without_redis_still_serves_metrics(server):
    # The module's server: its Redis is a closed port.
    conn = http.client.HTTPConnection('127.0.0.1', server, timeout=10)
    status, raw = request(conn, 'GET', '/metrics')[:2]
    conn.close()
    assert status == 200
    assert 'flash_commands_total{command="balance"}' in raw.decode()
    assert 'flash_active_users' not in raw.decode()
    assert 'flash_otp_failed_attempts_max_1h' not in raw.decode()


def test_one_users_failures_at_two_replicas_add_up(two_app_servers):
    # The proxy balances round robin: a brute-forcer's six wrong codes split 3/3 between two
    # replicas. Each replica must export the service's count (6), not its own share (3), or
    # max(flash_otp_failed_attempts_max_1h) > 5 never fires.
    (first, first_conn), (second, second_conn) = two_app_servers
    first.redis = second.redis = FakeRedis()
    assert command(first_conn, 'mallory', 'link')[0] == 200
    for n in range(6):
        conn = (first_conn, second_conn)[n % 2]
        status, answer = command(conn, 'mallory', 'otp', code='wrong-%d' % n)
        assert status == 200 and answer['result'] == {'ok': True, 'verified': False}
    for conn in (first_conn, second_conn):
        values = samples(scrape(conn))
        assert values['flash_otp_failed_attempts_max_1h'] == 6
        assert values['flash_otp_verifications_total{result="failure"}'] == 3   # the counters stay per instance
