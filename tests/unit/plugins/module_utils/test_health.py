# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import io
import json
import socket
import struct

import jmespath
import pytest
import yaml

from ansible_collections.flash.connect.plugins.module_utils import _health
from ansible_collections.flash.connect.plugins.module_utils import _health_amqp as amqp
from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.module_utils._health_probes import Prober
from ansible_collections.flash.connect.plugins.modules import health_gate
from ansible_collections.flash.connect.tests.unit.plugins.loopback import FakeClock, Simple, closed_port


# ============================================================================================
# Helpers
# ============================================================================================

def normalize_one(**fields):
    return _health.normalize_checks([fields], compile_query=_health.compile_jmespath)[0]


def http_check(**fields):
    fields.setdefault('name', 'web')
    fields.setdefault('type', 'http')
    fields.setdefault('url', 'http://127.0.0.1:1/health')
    return normalize_one(**fields)


def spec_error(*checks):
    with pytest.raises(_health.HealthSpecError) as info:
        _health.normalize_checks(list(checks), compile_query=_health.compile_jmespath)
    return str(info.value)


class ScriptedProbe(object):
    """Returns the next verdict of each check's script; each probe costs ``cost`` seconds of the fake clock."""

    def __init__(self, clock, scripts, cost=0.0):
        self.clock = clock
        self.scripts = dict((name, list(script)) for name, script in scripts.items())
        self.cost = cost
        self.calls = []
        self.remaining_seen = []

    def __call__(self, check, remaining):
        self.calls.append(check['name'])
        self.remaining_seen.append(remaining())
        self.clock.now += self.cost
        script = self.scripts[check['name']]
        verdict = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(verdict, Exception):
            raise verdict
        return _health.ProbeResult(verdict, 'ok' if verdict else 'still failing', latency_ms=1.0)


def checks_named(*names):
    return [{'name': name, 'type': 'tcp', 'host': '127.0.0.1', 'port': 1, 'timeout': 5.0} for name in names]


# ============================================================================================
# Check specifications
# ============================================================================================

def test_http_defaults_are_applied():
    check = http_check()
    assert check['method'] == 'GET'
    assert check['status'] == [200]
    assert check['requests'] == 1
    assert check['max_error_rate'] == 0.0
    assert check['validate_certs'] is True
    # What the module documents for checks[].timeout, not the implementation's own constant.
    documented = yaml.safe_load(health_gate.DOCUMENTATION)['options']['checks']['suboptions']['timeout']['default']
    assert check['timeout'] == float(documented)
    assert 'host' not in check


def test_http_fields_are_normalized():
    check = http_check(method='post', status=[204, 200, 200], json_query='status', max_error_rate=0.25, requests=8)
    assert check['method'] == 'POST'
    assert check['status'] == [200, 204]
    assert check['_query'].search({'status': 'ok'}) == 'ok'


@pytest.mark.parametrize('sentinel, port', [(False, 6379), (True, 26379)])
def test_redis_default_port_depends_on_sentinel(sentinel, port):
    fields = {'name': 'r', 'type': 'redis', 'host': 'redis-1', 'sentinel': sentinel}
    if sentinel:
        fields['master_name'] = 'cache'
    assert normalize_one(**fields)['port'] == port


def test_prometheus_label_values_become_strings():
    check = normalize_one(name='p', type='prometheus', url='http://prom:9090', labels={'severity': 'critical', 'code': 500})
    assert check['labels'] == {'severity': 'critical', 'code': '500'}


def test_options_left_unset_by_ansible_module_are_accepted():
    # AnsibleModule fills every sub-option it knows with None; those are not "set".
    check = normalize_one(name='t', type='tcp', host='db', port=5432, url=None, password=None, labels=None)
    assert check['port'] == 5432


@pytest.mark.parametrize('check, expected', [
    ({'name': 'web', 'type': 'htp', 'url': 'http://x'}, "check 'web' (checks[0]): type must be one of http, tcp, redis, rabbitmq, prometheus, got 'htp'"),
    ({'name': 'web', 'type': 'http'}, "check 'web' (checks[0]): url is required for type http"),
    ({'name': 'db', 'type': 'tcp', 'port': 5432}, "check 'db' (checks[0]): host is required for type tcp"),
    ({'name': 'db', 'type': 'tcp', 'host': 'db'}, "check 'db' (checks[0]): port is required for type tcp"),
    ({'name': 'cache', 'type': 'redis'}, "check 'cache' (checks[0]): host is required for type redis"),
    ({'name': 'db', 'type': 'tcp', 'host': 'db', 'port': 1, 'url': 'http://db'}, "check 'db' (checks[0]): url does not apply to type tcp"),
    ({'name': 'db', 'type': 'tcp', 'host': 'db', 'port': 1, 'colour': 'blue'}, "check 'db' (checks[0]): colour does not apply to type tcp"),
    ({'type': 'tcp', 'host': 'db', 'port': 1}, 'checks[0]: name is required'),
    ({'name': 'db', 'type': 'tcp', 'host': 'db', 'port': 70000}, "check 'db' (checks[0]): port must be at most 65535"),
    ({'name': 'db', 'type': 'tcp', 'host': 'db', 'port': 1, 'timeout': 0}, "check 'db' (checks[0]): timeout must be above 0"),
    ({'name': 'web', 'type': 'http', 'url': 'ftp://x'}, "check 'web' (checks[0]): url must be an http:// or https:// URL"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'body': 'a', 'json': {}}, "check 'web' (checks[0]): body and json are mutually exclusive"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'expect': 'ok'}, "check 'web' (checks[0]): expect needs json_query"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'json_query': 'a[?'}, "check 'web' (checks[0]): json_query is not a valid JMESPath"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'status': [200, 700]}, "check 'web' (checks[0]): status must be at most 599"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'status': []}, "check 'web' (checks[0]): status must be a non-empty list"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'requests': 0}, "check 'web' (checks[0]): requests must be at least 1"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'max_error_rate': 1.5}, "check 'web' (checks[0]): max_error_rate must be at most 1.0"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'max_error_rate': -0.1}, "check 'web' (checks[0]): max_error_rate must be at least 0.0"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'max_error_rate': 1.0}, "check 'web' (checks[0]): max_error_rate 1.0 would pass"),
    ({'name': 'web', 'type': 'http', 'url': 'http://x', 'method': 'GET /'}, "check 'web' (checks[0]): method must be an HTTP method"),
    ({'name': 's', 'type': 'redis', 'host': 'r', 'sentinel': True}, "check 's' (checks[0]): master_name is required with sentinel: true"),
    ({'name': 's', 'type': 'redis', 'host': 'r', 'sentinel': True, 'master_name': 'm', 'expect_role': 'master'},
     "check 's' (checks[0]): expect_role applies to a Redis server"),
    ({'name': 'r', 'type': 'redis', 'host': 'r', 'min_replicas': 2}, "check 'r' (checks[0]): min_replicas applies only with sentinel: true"),
    ({'name': 'r', 'type': 'redis', 'host': 'r', 'expect_role': 'primary'}, "check 'r' (checks[0]): expect_role must be one of master, replica, any"),
    ({'name': 'r', 'type': 'redis', 'host': 'r', 'username': 'u'}, "check 'r' (checks[0]): username needs password"),
    ({'name': 'r', 'type': 'redis', 'host': 'r', 'ca_path': '/ca.pem'}, "check 'r' (checks[0]): ca_path applies only with tls: true"),
    ({'name': 'q', 'type': 'rabbitmq', 'url': 'http://q:15672', 'min_running_nodes': 0}, "check 'q' (checks[0]): min_running_nodes must be at least 1"),
    ({'name': 'q', 'type': 'rabbitmq', 'url': 'http://q:15672', 'labels': {'a': 'b'}}, "check 'q' (checks[0]): labels does not apply to type rabbitmq"),
    ({'name': 'p', 'type': 'prometheus', 'url': 'http://p:9090', 'labels': ['a']}, "check 'p' (checks[0]): labels must be a dict"),
])
def test_invalid_checks_are_named(check, expected):
    assert expected in spec_error(check)


def test_every_error_is_reported_at_once():
    message = spec_error(
        {'name': 'web', 'type': 'http'},
        {'name': 'web', 'type': 'tcp', 'host': 'db', 'port': 1},
        {'name': 'mq', 'type': 'kafka'},
    )
    assert "check 'web' (checks[0]): url is required" in message
    assert "check 'web' (checks[1]): name 'web' is already used by checks[0]" in message
    assert "check 'mq' (checks[2]): type must be one of" in message


@pytest.mark.parametrize('checks', [[], None, 'web'])
def test_checks_must_be_a_non_empty_list(checks):
    with pytest.raises(_health.HealthSpecError, match='non-empty list'):
        _health.normalize_checks(checks)


def test_credentials_in_a_bad_url_are_not_echoed():
    message = spec_error({'name': 'q', 'type': 'rabbitmq', 'url': 'ftp://admin:hunter2@q:15672'})
    assert 'hunter2' not in message
    assert 'ftp://q:15672' in message


@pytest.mark.parametrize('url, redacted', [
    ('http://user:pw@host:15672/api', 'http://host:15672/api'),
    ('https://token@host/', 'https://host/'),
    ('http://host/path?a=b@c', 'http://host/path?a=b@c'),
    ('http://host:80', 'http://host:80'),
])
def test_redact_url(url, redacted):
    assert _health.redact_url(url) == redacted


def test_uses_json_query():
    assert _health.uses_json_query([{'type': 'http', 'json_query': 'a'}])
    assert not _health.uses_json_query([{'type': 'http', 'json_query': None}, {'type': 'tcp'}])


# ============================================================================================
# HTTP verdicts
# ============================================================================================

@pytest.mark.parametrize('status, accepted, ok', [
    (200, None, True),
    (204, None, False),
    (204, [200, 204], True),
    (503, [200], False),
    (302, [200], False),
])
def test_http_status(status, accepted, ok):
    fields = {'status': accepted} if accepted else {}
    result = _health.evaluate_http(status, b'', 3.0, http_check(**fields))
    assert result.ok is ok
    if not ok:
        assert 'HTTP %d' % status in result.detail


@pytest.mark.parametrize('body, query, expect, ok', [
    ({'status': 'ok'}, 'status', None, True),
    ({'status': ''}, 'status', None, False),
    ({'status': None}, 'status', None, False),
    ({'ready': False}, 'ready', None, False),
    ({'items': []}, 'items', None, False),
    ({'items': [1]}, 'items', None, True),
    ({'depth': 0}, 'depth', None, True),               # 0 is true in JMESPath
    ({}, 'missing', None, False),
    ({'redis': 'connected', 'rabbitmq': 'connected'}, "redis == 'connected' && rabbitmq == 'connected'", None, True),
    ({'redis': 'connected', 'rabbitmq': 'down'}, "redis == 'connected' && rabbitmq == 'connected'", None, False),
    ({'status': 'ok'}, 'status', 'ok', True),
    ({'status': 'degraded'}, 'status', 'ok', False),
    ({'ready': 1}, 'ready', True, False),               # true is not 1
    ({'ready': True}, 'ready', True, True),
    ({'ready': False}, 'ready', False, True),          # a false expect is still compared
    ({'ready': None}, 'ready', False, False),
    ({'depth': 0}, 'depth', 0, True),
    ({'depth': 0}, 'depth', False, False),
    ({'count': 3}, 'count', 3.0, True),
    ({'nodes': [{'up': True}, {'up': False}]}, 'nodes[].up', [True, True], False),
    ({'nodes': [{'up': True}, {'up': True}]}, 'nodes[].up', [True, True], True),
])
def test_http_json_query(body, query, expect, ok):
    check = http_check(json_query=query, expect=expect)
    result = _health.evaluate_http(200, json.dumps(body).encode(), 3.0, check)
    assert result.ok is ok, result.detail
    if not ok:
        assert query in result.detail


def test_http_json_query_on_a_body_that_is_not_json():
    result = _health.evaluate_http(200, b'<html>OK</html>', 3.0, http_check(json_query='status'))
    assert not result.ok
    assert 'not JSON' in result.detail


def test_http_json_query_without_a_compiled_expression_uses_search():
    check = {'status': [200], 'json_query': 'status', 'expect': 'ok'}
    assert _health.evaluate_http(200, b'{"status": "ok"}', 1.0, check, search=jmespath.search).ok
    assert not _health.evaluate_http(200, b'{"status": "ok"}', 1.0, check).ok


@pytest.mark.parametrize('latency, ceiling, ok', [
    (499.9, 500, True),
    (500.0, 500, True),
    (500.1, 500, False),
    (5000.0, None, True),
])
def test_http_latency_ceiling(latency, ceiling, ok):
    result = _health.evaluate_http(200, b'', latency, http_check(max_latency_ms=ceiling))
    assert result.ok is ok
    assert result.latency_ms == round(latency, 1)
    if not ok:
        assert 'max_latency_ms' in result.detail


def test_status_is_judged_before_the_body():
    result = _health.evaluate_http(500, b'{"status": "ok"}', 1.0, http_check(json_query='status'))
    assert not result.ok
    assert result.detail.startswith('HTTP 500')


@pytest.mark.parametrize('value, truthy', [
    (None, False), (False, False), ('', False), ([], False), ({}, False),
    (0, True), (0.0, True), ('x', True), ([0], True), ({'a': None}, True), (True, True),
])
def test_jmespath_truthy(value, truthy):
    assert _health.jmespath_truthy(value) is truthy


@pytest.mark.parametrize('left, right, same', [
    (True, 1, False), (1, True, False), (1, 1.0, True), ('1', 1, False), (None, None, True),
    ({'a': [1, True]}, {'a': [1, True]}, True), ({'a': [1, True]}, {'a': [1, 1]}, False),
    ({'a': 1}, {'a': 1, 'b': 2}, False), ([1, 2], [1, 2, 3], False), (False, False, True),
])
def test_same_value(left, right, same):
    assert _health.same_value(left, right) is same


# ============================================================================================
# Error-rate window
# ============================================================================================

def _window(failures, total, max_error_rate):
    results = [_health.ProbeResult(False, 'HTTP 503 (accepted: 200)', 10.0)] * failures
    results += [_health.ProbeResult(True, 'HTTP 200 in 5.0 ms', 5.0)] * (total - failures)
    return _health.evaluate_window(results, max_error_rate)


@pytest.mark.parametrize('failures, total, max_error_rate, ok', [
    (0, 1, 0.0, True),
    (1, 1, 0.0, False),
    (0, 10, 0.0, True),
    (1, 10, 0.0, False),
    (1, 10, 0.1, True),          # exactly at the limit passes
    (2, 10, 0.1, False),
    (1, 20, 0.05, True),
    (2, 20, 0.05, False),
    (3, 10, 0.3, True),          # 0.3 * 10 is 2.9999... in floats; counts are compared
    (4, 10, 0.3, False),
    (1, 3, 0.34, True),
    (1, 3, 0.33, False),
    (9, 10, 0.99, True),
    (10, 10, 0.99, False),
])
def test_error_rate_window_boundaries(failures, total, max_error_rate, ok):
    result = _window(failures, total, max_error_rate)
    assert result.ok is ok, result.detail
    assert result.error_rate == round(failures / total, 4)


def test_window_reports_slowest_request_and_last_failure():
    result = _window(2, 10, 0.1)
    assert result.latency_ms == 10.0
    assert result.detail.startswith('2/10 requests failed (20.0%, at most 10.0% allowed)')
    assert 'last failure: HTTP 503' in result.detail
    clean = _window(0, 4, 0.0)
    assert clean.detail == '4/4 requests passed, slowest 5.0 ms'


def test_window_of_one_request_keeps_its_detail():
    result = _window(1, 1, 0.0)
    assert result.detail == 'HTTP 503 (accepted: 200)'
    assert result.error_rate == 1.0


def test_latency_ceiling_for_tcp_and_redis():
    check = {'max_latency_ms': 50}
    assert _health.evaluate_latency(_health.ProbeResult(True, 'connected', 49.0), check).ok
    slow = _health.evaluate_latency(_health.ProbeResult(True, 'connected', 51.0), check)
    assert not slow.ok and 'above max_latency_ms 50' in slow.detail
    assert not _health.evaluate_latency(_health.ProbeResult(False, 'refused', 1.0), check).ok


# ============================================================================================
# RESP protocol
# ============================================================================================

@pytest.mark.parametrize('args, wire', [
    (('PING',), b'*1\r\n$4\r\nPING\r\n'),
    (('AUTH', 'user', 'p@ss word'), b'*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$9\r\np@ss word\r\n'),
    (('SENTINEL', 'CKQUORUM', 'flash-cache'), b'*3\r\n$8\r\nSENTINEL\r\n$8\r\nCKQUORUM\r\n$11\r\nflash-cache\r\n'),
    (('SELECT', 3), b'*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n'),
    (('SET', b'k\r\n', 'caf\u00e9'), b'*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$5\r\ncaf\xc3\xa9\r\n'),
    (('GET', ''), b'*2\r\n$3\r\nGET\r\n$0\r\n\r\n'),
])
def test_encode_command(args, wire):
    assert resp.encode_command(*args) == wire


@pytest.mark.parametrize('args, error', [((), ValueError), (('SET', True), TypeError), (('SET', None), TypeError)])
def test_encode_command_refuses(args, error):
    with pytest.raises(error):
        resp.encode_command(*args)


def parse(wire):
    return resp.read_reply(io.BytesIO(wire))


@pytest.mark.parametrize('wire, value', [
    (b'+OK\r\n', 'OK'),
    (b'+OK 3 usable Sentinels. Quorum and failover authorization can be reached\r\n',
     'OK 3 usable Sentinels. Quorum and failover authorization can be reached'),
    (b':42\r\n', 42),
    (b':-7\r\n', -7),
    (b'$5\r\nhello\r\n', 'hello'),
    (b'$0\r\n\r\n', ''),
    (b'$-1\r\n', None),
    (b'$7\r\na\r\nb\r\nc\r\n', 'a\r\nb\r\nc'),
    (b'*-1\r\n', None),
    (b'*0\r\n', []),
    (b'*3\r\n$6\r\nmaster\r\n:3129\r\n*2\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$4\r\n3129\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9002\r\n$4\r\n3129\r\n',
     ['master', 3129, [['127.0.0.1', '9001', '3129'], ['127.0.0.1', '9002', '3129']]]),
    (b'*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n$9\r\nconnected\r\n:3167\r\n', ['slave', '127.0.0.1', 9000, 'connected', 3167]),
    (b'*2\r\n*1\r\n*1\r\n:1\r\n$-1\r\n', [[[1]], None]),
])
def test_read_reply(wire, value):
    assert parse(wire) == value


def test_error_reply_is_returned_with_its_code():
    reply = parse(b'-NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the majority\r\n')
    assert isinstance(reply, resp.RespError)
    assert reply.code == 'NOQUORUM'
    assert 'Not enough available Sentinels' in str(reply)


def test_error_inside_an_array_keeps_the_rest():
    reply = parse(b'*3\r\n+OK\r\n-WRONGTYPE Operation against a key\r\n:1\r\n')
    assert reply[0] == 'OK' and reply[2] == 1
    assert isinstance(reply[1], resp.RespError) and reply[1].code == 'WRONGTYPE'


def test_replies_are_read_one_at_a_time():
    reader = io.BytesIO(b'+OK\r\n:1\r\n$3\r\nfoo\r\n')
    assert [resp.read_reply(reader) for dummy in range(3)] == ['OK', 1, 'foo']


@pytest.mark.parametrize('wire, message', [
    (b'', 'connection closed'),
    (b'+OK', 'incomplete RESP line'),
    (b'\r\n', 'empty RESP line'),
    (b'!5\r\nhello\r\n', 'unknown RESP type'),
    (b'$5\r\nhel', 'connection closed in the middle of a bulk string'),
    (b'$5\r\nhelloXY', 'not terminated by CRLF'),
    (b'$abc\r\n', 'bad bulk string length'),
    (b'$-2\r\n', 'out of range'),
    (b':12x\r\n', 'bad integer'),
    (b'*2\r\n:1\r\n', 'connection closed'),
    (b'*1\r\n' * 40 + b':1\r\n', 'nested deeper'),
    (b'$%d\r\n' % (resp.MAX_BULK_BYTES + 1), 'out of range'),
])
def test_read_reply_protocol_errors(wire, message):
    with pytest.raises(resp.RespProtocolError, match=message):
        parse(wire)


def test_pairs_to_dict_and_parse_info():
    assert resp.pairs_to_dict(['name', 'cache', 'flags', 'master', 'num-slaves', '2']) == {'name': 'cache', 'flags': 'master', 'num-slaves': '2'}
    with pytest.raises(resp.RespProtocolError):
        resp.pairs_to_dict(['name'])
    info = resp.parse_info('# Replication\r\nrole:slave\r\nmaster_host:10.0.0.5\r\nmaster_link_status:up\r\n\r\n')
    assert info == {'role': 'slave', 'master_host': '10.0.0.5', 'master_link_status': 'up'}


# ============================================================================================
# Redis and Sentinel verdicts
# ============================================================================================

@pytest.mark.parametrize('reply, expect_role, ok, words', [
    (['master', 10, [['10.0.0.2', '6379', '10']]], 'any', True, 'role master with 1 connected replica'),
    (['master', 10, []], 'master', True, 'role master with 0 connected replicas'),
    (['master', 10, []], 'replica', False, 'expected replica'),
    (['slave', '10.0.0.1', 6379, 'connected', 10], 'replica', True, 'role replica of 10.0.0.1:6379, link connected'),
    (['slave', '10.0.0.1', 6379, 'connected', 10], 'any', True, 'link connected'),
    (['slave', '10.0.0.1', 6379, 'sync', -1], 'any', False, 'not in sync'),
    (['slave', '10.0.0.1', 6379, 'connect', -1], 'replica', False, 'not in sync'),
    (['slave', '10.0.0.1', 6379, 'connected', 10], 'master', False, 'expected master'),
    (['sentinel', ['cache']], 'any', False, 'set sentinel: true'),
    (['arbiter'], 'any', False, 'unknown role'),
    ('OK', 'any', False, 'unexpected ROLE reply'),
])
def test_redis_role(reply, expect_role, ok, words):
    result = _health.evaluate_redis_role(reply, expect_role)
    assert result.ok is ok
    assert words in result.detail


@pytest.mark.parametrize('fields, expect_role, ok', [
    ({'role': 'master', 'connected_slaves': '2'}, 'master', True),
    ({'role': 'slave', 'master_host': 'r1', 'master_port': '6379', 'master_link_status': 'up'}, 'replica', True),
    ({'role': 'slave', 'master_host': 'r1', 'master_port': '6379', 'master_link_status': 'down'}, 'any', False),
    ({}, 'any', False),
])
def test_redis_role_from_info(fields, expect_role, ok):
    assert _health.evaluate_redis_info(fields, expect_role).ok is ok


MASTER = {'name': 'cache', 'ip': '10.0.0.1', 'port': '6379', 'flags': 'master'}


def peers(*flags):
    return [{'ip': '10.0.0.%d' % (i + 2), 'port': '6379', 'flags': flag} for i, flag in enumerate(flags)]


@pytest.mark.parametrize('kwargs, ok, words', [
    ({}, True, 'quorum OK, master cache 10.0.0.1:6379, 2/2 replicas up, 3/3 sentinels up'),
    ({'ckquorum': resp.RespError('NOQUORUM 1 usable Sentinels')}, False, 'CKQUORUM: NOQUORUM 1 usable Sentinels'),
    ({'ckquorum': resp.RespError('ERR No such master with that name')}, False, 'No such master'),
    ({'master': dict(MASTER, flags='master,s_down')}, False, 'flagged master,s_down'),
    ({'master': dict(MASTER, flags='master,o_down')}, False, 'flagged master,o_down'),
    ({'min_replicas': 2}, True, '2/2 replicas up'),
    ({'replicas': peers('slave', 'slave,s_down'), 'min_replicas': 2}, False, '1 healthy replicas, fewer than min_replicas 2'),
    ({'replicas': peers('slave', 'slave,disconnected'), 'min_replicas': 1}, True, '1/2 replicas up'),
    ({'sentinels': peers('sentinel'), 'min_sentinels': 3}, False, '2 healthy sentinels, fewer than min_sentinels 3'),
    ({'sentinels': peers('sentinel', 'sentinel'), 'min_sentinels': 3}, True, '3/3 sentinels up'),
    ({'sentinels': peers('sentinel', 'sentinel,s_down'), 'min_sentinels': 3}, False, '2/3 sentinels up'),
])
def test_sentinel_verdict(kwargs, ok, words):
    args = {'ckquorum': 'OK 3 usable Sentinels. Quorum and failover authorization can be reached', 'master': MASTER,
            'replicas': peers('slave', 'slave'), 'sentinels': peers('sentinel', 'sentinel')}
    args.update(kwargs)
    result = _health.evaluate_sentinel('cache', **args)
    assert result.ok is ok
    assert words in result.detail


# ============================================================================================
# RabbitMQ verdicts
# ============================================================================================

def node(name, running=True, **extra):
    data = {'name': name, 'running': running, 'mem_alarm': False, 'disk_free_alarm': False, 'partitions': []}
    data.update(extra)
    return data


@pytest.mark.parametrize('nodes, minimum, ok, words', [
    ([node('rabbit@a'), node('rabbit@b'), node('rabbit@c')], None, True, '3/3 nodes running, no alarms'),
    ([node('rabbit@a'), node('rabbit@b'), node('rabbit@c', running=False)], None, False, '2/3 nodes running, 3 required (not running: rabbit@c)'),
    ([node('rabbit@a'), node('rabbit@b'), node('rabbit@c', running=False)], 2, True, '2/3 nodes running'),
    ([node('rabbit@a'), node('rabbit@b', running=False), node('rabbit@c', running=False)], 2, False, '1/3 nodes running, 2 required'),
    ([node('rabbit@a'), node('rabbit@b', mem_alarm=True)], None, False, 'rabbit@b has mem_alarm'),
    ([node('rabbit@a', disk_free_alarm=True)], 1, False, 'rabbit@a has disk_free_alarm'),
    ([node('rabbit@a', mem_alarm=True, disk_free_alarm=True)], 1, False, 'rabbit@a has mem_alarm and disk_free_alarm'),
    ([node('rabbit@a', partitions=['rabbit@b']), node('rabbit@b')], None, False, 'rabbit@a is partitioned from rabbit@b'),
    ([], None, False, 'no nodes'),
    ({'error': 'not_authorised'}, None, False, 'no nodes'),
])
def test_rabbitmq_nodes(nodes, minimum, ok, words):
    result = _health.evaluate_rabbitmq_nodes(nodes, minimum)
    assert result.ok is ok
    assert words in result.detail


@pytest.mark.parametrize('args, ok, words', [
    ((200, {'status': 'ok'}, 200, {'name': 'flash', 'cluster_state': {'rabbit@a': 'running', 'rabbit@b': 'running'}}), True, 'running on 2 nodes'),
    ((503, {'status': 'failed', 'reason': 'Some virtual hosts are down'}, 200, {}), False, 'HTTP 503: Some virtual hosts are down'),
    ((200, {'status': 'ok'}, 404, {'error': 'Object Not Found'}), False, "vhost 'flash' does not exist"),
    ((200, {'status': 'ok'}, 200, {'cluster_state': {'rabbit@a': 'running', 'rabbit@b': 'stopped'}}), False, 'rabbit@b=stopped'),
])
def test_rabbitmq_vhost(args, ok, words):
    result = _health.evaluate_rabbitmq_vhost('flash', *args)
    assert result.ok is ok
    assert words in result.detail


# ============================================================================================
# Prometheus verdicts
# ============================================================================================

def alerts(*items):
    return {'status': 'success', 'data': {'alerts': [{'labels': labels, 'state': state} for labels, state in items]}}


CRITICAL_APP = {'alertname': 'AppDown', 'job': 'flash-connect', 'severity': 'critical'}
WARNING_REDIS = {'alertname': 'RedisMemoryHigh', 'service': 'redis', 'severity': 'warning'}


@pytest.mark.parametrize('payload, labels, ok, words', [
    (alerts(), {}, True, 'no firing alert'),
    (alerts((CRITICAL_APP, 'firing')), {}, False, '1 firing alert: AppDown'),
    (alerts((CRITICAL_APP, 'pending')), {}, True, 'no firing alert'),
    (alerts((CRITICAL_APP, 'firing')), {'job': 'flash-connect'}, False, 'AppDown'),
    (alerts((CRITICAL_APP, 'firing')), {'job': 'flash-connect', 'severity': 'critical'}, False, 'AppDown'),
    (alerts((CRITICAL_APP, 'firing')), {'job': 'flash-connect', 'severity': 'warning'}, True, 'no firing alert matching'),
    (alerts((CRITICAL_APP, 'firing')), {'team': 'payments'}, True, 'no firing alert matching'),
    (alerts((CRITICAL_APP, 'firing'), (WARNING_REDIS, 'firing')), {'severity': 'warning'}, False, '1 firing alert matching'),
    (alerts((CRITICAL_APP, 'firing'), (WARNING_REDIS, 'firing')), {}, False, '2 firing alerts: AppDown, RedisMemoryHigh'),
    (alerts(({'alertname': 'X', 'code': '500'}, 'firing')), {'code': '500'}, False, 'X'),
    ({'status': 'error', 'errorType': 'bad_data'}, {}, False, 'Prometheus answered'),
    ([], {}, False, 'Prometheus answered'),
])
def test_prometheus(payload, labels, ok, words):
    result = _health.evaluate_prometheus(payload, labels)
    assert result.ok is ok
    assert words in result.detail


def test_matching_firing_alerts_needs_every_label():
    payload = alerts((CRITICAL_APP, 'firing'), (WARNING_REDIS, 'firing'), (dict(CRITICAL_APP, alertname='AppSlow'), 'pending'))
    assert [a['labels']['alertname'] for a in _health.matching_firing_alerts(payload, {'severity': 'critical'})] == ['AppDown']
    assert _health.matching_firing_alerts(payload, {'severity': 'critical', 'service': 'redis'}) == []


# ============================================================================================
# Rounds, with a fake clock
# ============================================================================================

def run(clock, probe, checks, timeout=30.0, interval=2.0, required_successes=1):
    return _health.run_gate(checks, probe, timeout, interval, required_successes, clock=clock, sleep=clock.sleep)


def test_passes_after_retries():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'app': [False, False, True], 'db': [True]})
    result = run(clock, probe, checks_named('app', 'db'))
    assert result['passed'] is True
    assert result['rounds'] == 3
    assert result['elapsed'] == 4.0
    assert clock.sleeps == [2.0, 2.0]
    # db passed in round 1 and is not asked again while app still fails.
    assert probe.calls == ['app', 'db', 'app', 'app']
    reports = dict((r['name'], r) for r in result['checks'])
    assert reports['app']['attempts'] == 3 and reports['app']['passed'] is True
    assert reports['db']['attempts'] == 1 and reports['db']['last_detail'] == 'ok'


def test_fails_when_the_budget_is_spent():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'app': [False], 'db': [True]})
    result = run(clock, probe, checks_named('app', 'db'), timeout=10.0, interval=2.0)
    assert result['passed'] is False
    # Rounds start at 0, 2, 4, 6 and 8 s; one at 10 s would have no time left.
    assert result['rounds'] == 5
    assert result['elapsed'] == 8.0
    reports = dict((r['name'], r) for r in result['checks'])
    assert reports['app'] == {'name': 'app', 'type': 'tcp', 'passed': False, 'attempts': 5, 'consecutive_successes': 0,
                              'last_detail': 'still failing', 'latency_ms': 1.0, 'error_rate': None}
    assert reports['db']['passed'] is True
    message = _health.failure_message(result, 10.0)
    assert message == ('Health gate failed: 1 of 2 checks not passing after 5 rounds in 8.0s (budget 10.0s): '
                       'app (tcp): still failing')


def test_slow_probes_use_up_the_budget():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'a': [False], 'b': [False]}, cost=3.0)
    result = run(clock, probe, checks_named('a', 'b'), timeout=10.0, interval=1.0)
    # Round 1 costs 6 s; after 1 s of sleep round 2 starts at 7 s: a runs until 10 s, and b,
    # already attempted once, is not started past the deadline.
    assert result['rounds'] == 2
    assert probe.calls == ['a', 'b', 'a']
    assert result['passed'] is False


def test_probe_timeouts_are_cut_to_the_budget():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'a': [False]}, cost=4.0)
    run(clock, probe, checks_named('a'), timeout=10.0, interval=1.0)
    # Rounds at 0 s and 5 s; the one that would start at 10 s does not.
    assert probe.remaining_seen == [10.0, 5.0]
    # A check attempted for the first time after the deadline still gets the minimum.
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'a': [False], 'b': [False]}, cost=4.0)
    run(clock, probe, checks_named('a', 'b'), timeout=3.0, interval=1.0)
    assert probe.remaining_seen == [3.0, _health.MIN_PROBE_TIMEOUT]


def test_first_round_runs_every_check_even_with_no_budget_left():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'a': [False], 'b': [False], 'c': [True]}, cost=100.0)
    result = run(clock, probe, checks_named('a', 'b', 'c'), timeout=1.0)
    assert probe.calls == ['a', 'b', 'c']
    assert result['rounds'] == 1
    assert [r['attempts'] for r in result['checks']] == [1, 1, 1]


def test_required_successes_resets_on_a_failure():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'app': [True, True, False, True, True, True], 'db': [True]})
    result = run(clock, probe, checks_named('app', 'db'), required_successes=3, timeout=60.0, interval=1.0)
    assert result['passed'] is True
    assert result['rounds'] == 6
    # Above one required success every round runs every check.
    assert probe.calls.count('db') == 6
    reports = dict((r['name'], r) for r in result['checks'])
    assert reports['app']['consecutive_successes'] == 3
    assert reports['db']['consecutive_successes'] == 6


def test_required_successes_not_reached_in_time():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'app': [True, False, True, True, False, True]})
    result = run(clock, probe, checks_named('app'), required_successes=3, timeout=11.0, interval=2.0)
    assert result['passed'] is False
    assert result['rounds'] == 6
    report = result['checks'][0]
    assert report['consecutive_successes'] == 1
    message = _health.failure_message(result, 11.0, required_successes=3)
    assert 'app (tcp): passed 1 round in a row, 3 required; last: ok' in message


def test_a_check_that_passed_can_fail_again_with_required_successes():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'app': [False, True, True], 'db': [True, True, False]})
    result = run(clock, probe, checks_named('app', 'db'), required_successes=2, timeout=5.0, interval=2.0)
    reports = dict((r['name'], r) for r in result['checks'])
    assert result['rounds'] == 3
    assert reports['db']['passed'] is False and reports['db']['consecutive_successes'] == 0
    assert reports['app']['passed'] is True


def test_a_probe_that_raises_is_a_failed_attempt():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'a': [RuntimeError('boom'), True], 'b': [True]})
    result = run(clock, probe, checks_named('a', 'b'))
    assert result['passed'] is True
    assert result['rounds'] == 2
    probe = ScriptedProbe(clock, {'a': [RuntimeError('boom')]})
    result = run(clock, probe, checks_named('a'), timeout=1.0)
    assert result['checks'][0]['last_detail'] == 'probe error: RuntimeError: boom'


def test_zero_interval_does_not_sleep_past_the_budget():
    clock = FakeClock()
    probe = ScriptedProbe(clock, {'a': [False]}, cost=1.0)
    result = run(clock, probe, checks_named('a'), timeout=5.0, interval=0.0)
    assert result['rounds'] == 5
    assert clock.sleeps == [0.0] * 4


# ============================================================================================
# Probes against real sockets on 127.0.0.1
# ============================================================================================

def probe(check):
    return Prober()(check, lambda: 5.0)


def test_http_probe_json_query_on_a_live_server(http_server):
    http_server.routes['/health/ready'] = lambda n, h: (200, {'status': 'ok', 'redis': 'connected'}, {})
    result = probe(http_check(url=http_server.base + '/health/ready', json_query="redis == 'connected'"))
    assert result.ok, result.detail
    assert result.detail.startswith('HTTP 200 in ')
    assert result.latency_ms is not None and result.error_rate == 0.0


def test_http_probe_reads_the_body_of_an_error_status(http_server):
    http_server.routes['/health'] = lambda n, h: (503, {'status': 'degraded'}, {})
    assert probe(http_check(url=http_server.base + '/health')).detail == 'HTTP 503 (accepted: 200)'
    result = probe(http_check(url=http_server.base + '/health', status=[503], json_query='status', expect='degraded'))
    assert result.ok, result.detail


def test_http_probe_does_not_follow_redirects(http_server):
    http_server.routes['/old'] = lambda n, h: (302, b'', {'Location': '/health'})
    http_server.routes['/health'] = lambda n, h: (200, {}, {})
    result = probe(http_check(url=http_server.base + '/old'))
    assert not result.ok
    assert result.detail == 'HTTP 302 (accepted: 200)'
    assert [hit['path'] for hit in http_server.hits] == ['/old']


def test_http_probe_sends_method_headers_json_and_basic_auth(http_server):
    http_server.routes['/echo'] = lambda n, h: (200, {'ok': True}, {})
    check = http_check(url=http_server.base + '/echo', method='post', headers={'X-Gate': 'deploy'}, json={'ping': 1},
                       username='gate', password='Test-Only-Pw-1')
    assert probe(check).ok
    hit = http_server.hits[0]
    assert hit['method'] == 'POST'
    assert hit['headers']['X-Gate'] == 'deploy'
    assert hit['headers']['Content-Type'] == 'application/json'
    assert json.loads(hit['body']) == {'ping': 1}
    assert hit['headers']['Authorization'] == 'Basic ' + base64.b64encode(b'gate:Test-Only-Pw-1').decode()


@pytest.mark.parametrize('max_error_rate, ok', [(0.25, True), (0.2, False)])
def test_http_probe_error_rate_window_on_a_live_server(http_server, max_error_rate, ok):
    # Every fourth request fails: 2 of 8.
    http_server.routes['/health'] = lambda n, h: ((503, {}, {}) if n % 4 == 0 else (200, {}, {}))
    result = probe(http_check(url=http_server.base + '/health', requests=8, max_error_rate=max_error_rate))
    assert len(http_server.hits) == 8
    assert result.ok is ok, result.detail
    assert result.error_rate == 0.25
    if not ok:
        assert result.detail.startswith('2/8 requests failed (25.0%, at most 20.0% allowed)')


def test_http_probe_transport_error_names_the_url_without_credentials():
    port = closed_port()
    result = probe(http_check(url='http://gate:Test-Only-Pw-2@127.0.0.1:%d/health' % port))
    assert not result.ok
    assert result.detail.startswith('request to http://127.0.0.1:%d/health failed: ' % port)
    assert 'Test-Only-Pw-2' not in result.detail
    assert 'refused' in result.detail.lower()


def test_tcp_probe_on_a_live_and_a_closed_port():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    try:
        port = listener.getsockname()[1]
        result = probe(normalize_one(name='t', type='tcp', host='127.0.0.1', port=port))
        assert result.ok and result.detail.startswith('connected to 127.0.0.1:%d in ' % port)
    finally:
        listener.close()
    port = closed_port()
    result = probe(normalize_one(name='t', type='tcp', host='127.0.0.1', port=port))
    assert not result.ok
    assert result.detail.startswith('connection to 127.0.0.1:%d failed: ' % port)


def redis_check(server, **fields):
    fields.setdefault('name', 'cache')
    return normalize_one(type='redis', host='127.0.0.1', port=server.port, **fields)


def test_redis_probe_master_with_acl_user(redis_server):
    redis_server.username, redis_server.password = 'health', 'Test-Only-Pw-3'
    redis_server.replies['ROLE'] = ['master', 100, [['10.0.0.2', '6379', '100'], ['10.0.0.3', '6379', '100']]]
    result = probe(redis_check(redis_server, username='health', password='Test-Only-Pw-3', expect_role='master'))
    assert result.ok, result.detail
    assert result.detail == '127.0.0.1:%d: role master with 2 connected replicas' % redis_server.port
    assert redis_server.commands[0] == ['AUTH', 'health', 'Test-Only-Pw-3']


def test_redis_probe_wrong_password(redis_server):
    redis_server.password = 'right-one'
    redis_server.replies['ROLE'] = ['master', 0, []]
    result = probe(redis_check(redis_server, password='Test-Only-Pw-4'))
    assert not result.ok
    assert 'WRONGPASS' in result.detail and 'Test-Only-Pw-4' not in result.detail


def test_redis_probe_without_auth_on_a_protected_server(redis_server):
    redis_server.password = 'right-one'
    result = probe(redis_check(redis_server))
    assert not result.ok and 'NOAUTH' in result.detail


def test_redis_probe_replica_expected_master(redis_server):
    redis_server.replies['ROLE'] = ['slave', '10.0.0.1', 6379, 'connected', 100]
    result = probe(redis_check(redis_server, expect_role='master'))
    assert not result.ok and 'expected master' in result.detail


def test_redis_probe_falls_back_to_info_when_role_is_denied(redis_server):
    redis_server.replies['ROLE'] = resp.RespError("NOPERM User health has no permissions to run the 'role' command")
    redis_server.replies['INFO'] = '# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:up\r\n'
    result = probe(redis_check(redis_server, expect_role='replica'))
    assert result.ok, result.detail
    assert redis_server.commands[-1] == ['INFO', 'replication']


def test_redis_probe_app_user_without_role_or_info_passes_on_ping_with_any(redis_server):
    redis_server.replies['ROLE'] = resp.RespError("NOPERM User app has no permissions to run the 'role' command")
    redis_server.replies['INFO'] = resp.RespError("NOPERM User app has no permissions to run the 'info' command")
    redis_server.replies['PING'] = Simple('PONG')
    result = probe(redis_check(redis_server))
    assert result.ok, result.detail
    assert redis_server.commands[-1] == ['PING'] and 'PING answered PONG' in result.detail
    result = probe(redis_check(redis_server, expect_role='master'))
    assert not result.ok and 'NOPERM' in result.detail


def sentinel_replies(ckquorum):
    return {
        'SENTINEL CKQUORUM': ckquorum,
        'SENTINEL MASTER': {'name': 'flash-cache', 'ip': '10.0.0.1', 'port': '6379', 'flags': 'master'},
        'SENTINEL REPLICAS': [{'ip': '10.0.0.2', 'port': '6379', 'flags': 'slave'}, {'ip': '10.0.0.3', 'port': '6379', 'flags': 'slave,s_down'}],
        'SENTINEL SENTINELS': [{'ip': '10.0.0.2', 'port': '26379', 'flags': 'sentinel'}, {'ip': '10.0.0.3', 'port': '26379', 'flags': 'sentinel'}],
    }


def test_sentinel_probe_quorum(redis_server):
    redis_server.replies.update(sentinel_replies(Simple('OK 3 usable Sentinels. Quorum and failover authorization can be reached')))
    result = probe(redis_check(redis_server, sentinel=True, master_name='flash-cache', min_replicas=1, min_sentinels=3))
    assert result.ok, result.detail
    assert 'quorum OK, master flash-cache 10.0.0.1:6379, 1/2 replicas up, 3/3 sentinels up' in result.detail
    assert ['SENTINEL', 'CKQUORUM', 'flash-cache'] in redis_server.commands
    result = probe(redis_check(redis_server, sentinel=True, master_name='flash-cache', min_replicas=2))
    assert not result.ok and 'fewer than min_replicas 2' in result.detail


def test_sentinel_probe_no_quorum(redis_server):
    redis_server.replies.update(sentinel_replies(resp.RespError('NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the majority')))
    result = probe(redis_check(redis_server, sentinel=True, master_name='flash-cache'))
    assert not result.ok
    assert 'CKQUORUM: NOQUORUM 1 usable Sentinels' in result.detail


def test_sentinel_probe_falls_back_to_slaves(redis_server):
    replies = sentinel_replies(Simple('OK 3 usable Sentinels'))
    replies['SENTINEL SLAVES'] = replies.pop('SENTINEL REPLICAS')
    redis_server.replies.update(replies)
    result = probe(redis_check(redis_server, sentinel=True, master_name='flash-cache', min_replicas=1))
    assert result.ok, result.detail


def test_redis_probe_on_a_closed_port():
    port = closed_port()
    result = probe(normalize_one(name='cache', type='redis', host='127.0.0.1', port=port))
    assert not result.ok and result.detail.startswith('connection to 127.0.0.1:%d failed' % port)


def test_redis_probe_server_that_speaks_something_else(http_server):
    port = int(http_server.base.rsplit(':', 1)[1])
    result = probe(normalize_one(name='cache', type='redis', host='127.0.0.1', port=port, timeout=2))
    assert not result.ok
    assert 'RespProtocolError' in result.detail


def rabbitmq_routes(server, nodes, vhost_state='running'):
    def auth(handler):
        return handler.headers.get('Authorization') == 'Basic ' + base64.b64encode(b'monitor:Test-Only-Pw-5').decode()

    def guarded(answer):
        return lambda n, h: answer if auth(h) else (401, {'error': 'not_authorised'}, {})

    server.routes['/api/nodes'] = guarded((200, nodes, {}))
    server.routes['/api/health/checks/virtual-hosts'] = guarded((200, {'status': 'ok'}, {}))
    server.routes['/api/vhosts/flash%2Fapp'] = guarded((200, {'name': 'flash/app', 'cluster_state': {'rabbit@a': vhost_state}}, {}))


def rabbitmq_check(server, **fields):
    fields.setdefault('username', 'monitor')
    fields.setdefault('password', 'Test-Only-Pw-5')
    return normalize_one(name='mq', type='rabbitmq', url=server.base + '/', **fields)


def test_rabbitmq_probe_nodes_and_vhost(http_server):
    rabbitmq_routes(http_server, [node('rabbit@a'), node('rabbit@b')])
    result = probe(rabbitmq_check(http_server, vhost='flash/app', min_running_nodes=2))
    assert result.ok, result.detail
    assert result.detail == "2/2 nodes running, no alarms; vhost 'flash/app' running on 1 node"
    assert [hit['path'] for hit in http_server.hits] == ['/api/nodes', '/api/health/checks/virtual-hosts', '/api/vhosts/flash%2Fapp']


def test_rabbitmq_probe_alarm_and_stopped_vhost(http_server):
    rabbitmq_routes(http_server, [node('rabbit@a', mem_alarm=True)])
    assert probe(rabbitmq_check(http_server)).detail == 'rabbit@a has mem_alarm'
    http_server.hits[:] = []
    rabbitmq_routes(http_server, [node('rabbit@a')], vhost_state='stopped')
    result = probe(rabbitmq_check(http_server, vhost='flash/app'))
    assert not result.ok and 'rabbit@a=stopped' in result.detail


def test_rabbitmq_probe_bad_credentials(http_server):
    rabbitmq_routes(http_server, [node('rabbit@a')])
    result = probe(rabbitmq_check(http_server, password='wrong'))
    assert result.detail == '/api/nodes answered HTTP 401 (check username and password)'


def test_prometheus_probe(http_server):
    http_server.routes['/api/v1/alerts'] = lambda n, h: (200, alerts((CRITICAL_APP, 'firing'), (WARNING_REDIS, 'pending')), {})
    check = normalize_one(name='alerts', type='prometheus', url=http_server.base, labels={'job': 'flash-connect'})
    result = probe(check)
    assert not result.ok and result.detail == '1 firing alert matching {"job": "flash-connect"}: AppDown'
    check = normalize_one(name='alerts', type='prometheus', url=http_server.base, labels={'service': 'redis'})
    assert probe(check).ok
    http_server.routes['/api/v1/alerts'] = lambda n, h: (500, b'oops', {})
    assert probe(check).detail == '/api/v1/alerts answered HTTP 500'


# --- expect_headers: which colour behind the proxy served the answer ----------------------------

@pytest.mark.parametrize('headers, ok, detail', [
    ({'X-Flash-Colour': 'green'}, True, 'HTTP 200 in '),
    ({'x-flash-colour': 'green'}, True, 'HTTP 200 in '),
    ({'X-Flash-Colour': 'blue'}, False, 'HTTP 200 with X-Flash-Colour: "blue", expected "green"'),
    ({'X-Flash-Colour': 'green '}, False, 'X-Flash-Colour: "green ", expected "green"'),
    ({}, False, 'HTTP 200 without the header X-Flash-Colour (expected "green")'),
])
def test_http_expect_headers(headers, ok, detail):
    result = _health.evaluate_http(200, b'{"status": "ok"}', 3.0, http_check(expect_headers={'X-Flash-Colour': 'green'}),
                                   headers=headers)
    assert result.ok == ok
    assert detail in result.detail


def test_http_expect_headers_comes_after_the_status():
    result = _health.evaluate_http(502, b'', 3.0, http_check(expect_headers={'X-Flash-Colour': 'green'}),
                                   headers={'X-Flash-Colour': 'green'})
    assert not result.ok and result.detail == 'HTTP 502 (accepted: 200)'


@pytest.mark.parametrize('value', [['X-Flash-Colour'], {'X-Flash-Colour': 1}, {'': 'green'}])
def test_http_expect_headers_must_map_names_to_values(value):
    assert 'expect_headers must map response header names' in spec_error(
        {'name': 'web', 'type': 'http', 'url': 'http://x', 'expect_headers': value})


def test_expect_headers_is_for_http_only():
    assert 'expect_headers' in spec_error({'name': 'db', 'type': 'tcp', 'host': 'h', 'port': 1, 'expect_headers': {'a': 'b'}})


def test_http_probe_expect_headers_on_a_live_server(http_server):
    # The colour of each answer, as a proxy would mark it: green, green, blue (the window fails).
    colours = {1: 'green', 2: 'green', 3: 'blue'}
    http_server.routes['/health'] = lambda n, h: (200, {'status': 'ok'}, {'X-Flash-Colour': colours.get(n, 'green')})
    check = http_check(url=http_server.base + '/health', expect_headers={'x-flash-colour': 'green'}, requests=3)
    result = probe(check)
    assert not result.ok
    assert '1/3 requests failed' in result.detail and 'x-flash-colour: "blue", expected "green"' in result.detail
    assert probe(check).ok  # requests 4-6: all green


def test_http_probe_expect_headers_on_an_error_status(http_server):
    http_server.routes['/down'] = lambda n, h: (503, {}, {'X-Flash-Colour': 'blue'})
    result = probe(http_check(url=http_server.base + '/down', status=[503], expect_headers={'X-Flash-Colour': 'green'}))
    assert not result.ok and 'expected "green"' in result.detail


# --- redis write_key: the app's user may write, not only connect -------------------------------

def test_redis_probe_write_key_sets_an_expiring_key_as_the_user(redis_server):
    redis_server.password = 'app-pw'
    redis_server.replies['ROLE'] = resp.RespError("NOPERM User default has no permissions to run the 'role' command")
    redis_server.replies['INFO'] = resp.RespError("NOPERM User default has no permissions to run the 'info' command")
    redis_server.replies['PING'] = Simple('PONG')
    redis_server.replies['SET'] = Simple('OK')
    result = probe(redis_check(redis_server, password='app-pw', write_key='flash:health:app-1'))
    assert result.ok, result.detail
    assert redis_server.commands[0] == ['AUTH', 'app-pw']  # password only: the default user
    assert redis_server.commands[-1] == ['SET', 'flash:health:app-1', 'health_gate', 'PX', '60000']
    assert 'SET flash:health:app-1 accepted' in result.detail


def test_redis_probe_write_key_refused_by_the_acl_fails(redis_server):
    redis_server.replies['ROLE'] = ['master', 0, []]
    redis_server.replies['SET'] = resp.RespError("NOPERM No permissions to access a key")
    result = probe(redis_check(redis_server, write_key='other:key'))
    assert not result.ok and 'NOPERM' in result.detail


def test_redis_write_key_not_with_sentinel():
    assert 'write_key applies to a Redis server' in spec_error({'name': 's', 'type': 'redis', 'host': 'h', 'sentinel': True,
                                                                'master_name': 'm', 'write_key': 'k'})
    assert 'write_key must be a Redis key' in spec_error({'name': 'r', 'type': 'redis', 'host': 'h', 'write_key': 'a b'})


# --- rabbitmq over AMQP: the app's login on its vhost ------------------------------------------

class FakeBroker(object):
    """Speaks the broker side of the AMQP 0-9-1 connection handshake on 127.0.0.1.

    ``users``: {name: password}; ``vhosts``: {name: [users allowed]}. A wrong login gets
    Connection.Close 403 ACCESS_REFUSED, a vhost the user may not use 530 NOT_ALLOWED."""

    def __init__(self, users, vhosts):
        import socketserver
        import threading
        broker = self
        self.users, self.vhosts, self.seen = users, vhosts, []

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                broker.serve(self.request)

        self.server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _close(code, text):
        return amqp.method_frame(10, 50, struct.pack('>H', code) + amqp._shortstr(text) + struct.pack('>HH', 0, 0))

    def serve(self, sock):
        reader = amqp._Reader(sock)
        if reader._exactly(8) != amqp.PROTOCOL_HEADER:
            return
        sock.sendall(amqp.method_frame(10, 10, b'\x00\x09' + amqp._table([('product', 'fake')])
                                       + amqp._longstr('PLAIN AMQPLAIN') + amqp._longstr('en_US')))
        dummy, method, args = reader.method()
        table_len = struct.unpack('>I', args[:4])[0]
        rest = args[4 + table_len:]
        mech_len = rest[0]
        rest = rest[1 + mech_len:]
        resp_len = struct.unpack('>I', rest[:4])[0]
        dummy, user, password = rest[4:4 + resp_len].decode().split('\x00')
        self.seen.append(('login', user))
        if self.users.get(user) != password:
            sock.sendall(self._close(403, 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN'))
            return
        sock.sendall(amqp.method_frame(10, 30, struct.pack('>HIH', 2047, 131072, 60)))
        reader.method()  # tune-ok
        dummy, method, args = reader.method()  # open
        vhost = args[1:1 + args[0]].decode()
        self.seen.append(('open', vhost))
        if user not in self.vhosts.get(vhost, []):
            sock.sendall(self._close(530, "NOT_ALLOWED - access to vhost '%s' refused for user '%s'" % (vhost, user)))
            return
        sock.sendall(amqp.method_frame(10, 41, amqp._shortstr('')))
        dummy, method, args = reader.method()
        if method == 50:
            self.seen.append(('close', 200))
            sock.sendall(amqp.method_frame(10, 51, b''))


@pytest.fixture
def broker():
    fake = FakeBroker({'flash': 'p@ss/w#rd?%: x', 'other': 'pw'}, {'flash': ['flash'], 'elsewhere': ['other']})
    yield fake
    fake.close()


def amqp_check(broker, **fields):
    fields.setdefault('name', 'rabbitmq-app-login')
    fields.setdefault('username', 'flash')
    fields.setdefault('password', 'p@ss/w#rd?%: x')
    fields.setdefault('vhost', 'flash')
    return normalize_one(type='rabbitmq', url='amqp://127.0.0.1:%d' % broker.port, **fields)


def test_amqp_login_accepted_on_the_vhost(broker):
    result = probe(amqp_check(broker))
    assert result.ok, result.detail
    assert result.detail == '127.0.0.1:%d: AMQP login of flash on vhost flash accepted' % broker.port
    assert broker.seen == [('login', 'flash'), ('open', 'flash'), ('close', 200)]


def test_amqp_login_refused_names_the_reply_code_not_the_password(broker):
    result = probe(amqp_check(broker, password='Test-Only-Wrong-9'))
    assert not result.ok
    assert 'refused the login of flash: 403 ACCESS_REFUSED' in result.detail
    assert 'Test-Only-Wrong-9' not in result.detail


def test_amqp_vhost_refused(broker):
    result = probe(amqp_check(broker, vhost='elsewhere'))
    assert not result.ok
    assert 'refused flash on vhost elsewhere: 530 NOT_ALLOWED' in result.detail


def test_amqp_login_on_something_that_is_not_amqp(http_server):
    result = probe(normalize_one(name='x', type='rabbitmq', url='amqp://127.0.0.1:%d' % int(http_server.base.rsplit(':', 1)[1]),
                                 username='u', password='p'))
    assert not result.ok and result.detail.startswith('AMQP connection to 127.0.0.1:')


@pytest.mark.parametrize('fields, message', [
    ({'url': 'amqp://u:p@h:5672/v', 'username': 'u', 'password': 'p'}, 'url must be amqp://host[:port]'),
    ({'url': 'amqp://h'}, 'an AMQP login needs username and password'),
    ({'url': 'amqp://h', 'username': 'u', 'password': 'p', 'min_running_nodes': 2}, 'min_running_nodes needs the management API'),
])
def test_amqp_url_spec_errors(fields, message):
    fields.update(name='q', type='rabbitmq')
    assert message in spec_error(fields)


def test_amqp_default_vhost_and_port():
    check = normalize_one(name='q', type='rabbitmq', url='amqps://rmq.internal', username='u', password='p')
    assert check['vhost'] == '/' and check['_amqp'] == {'tls': True, 'host': 'rmq.internal', 'port': 5671}
