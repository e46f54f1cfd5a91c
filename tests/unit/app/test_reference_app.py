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
