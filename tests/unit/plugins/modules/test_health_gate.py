# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket

import pytest
import yaml


from ansible_collections.flash.connect.plugins.module_utils import _health
from ansible_collections.flash.connect.plugins.modules import health_gate
from ansible_collections.flash.connect.tests.unit.plugins.loopback import FakeClock, closed_port
from ansible_collections.flash.connect.tests.unit.plugins.modules.harness import patch_exits, run_main  # noqa: E402

REDIS_PASSWORD = 'Test-Only-Redis-Pw-71'
RABBITMQ_PASSWORD = 'Test-Only-Rmq-Pw-72'
HTTP_PASSWORD = 'Test-Only-Http-Pw-73'


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(health_gate, '_clock', fake)
    monkeypatch.setattr(health_gate, '_sleep', fake.sleep)
    return fake


@pytest.fixture(autouse=True)
def exits(monkeypatch):
    patch_exits(monkeypatch)


def run_module(args):
    """Run main() with these module args; returns ('exit' | 'fail', result dict)."""
    return run_main(health_gate, args)


# -------------------------------------------------------------------------------- servers on 127.0.0.1

@pytest.fixture
def redis_server(redis_server):
    """The shared fake Redis (conftest.py) as a master that wants REDIS_PASSWORD."""
    redis_server.password = REDIS_PASSWORD
    redis_server.replies['ROLE'] = ['master', 42, []]
    return redis_server


# -------------------------------------------------------------------------------- invalid input

@pytest.mark.parametrize('check, words', [
    ({'name': 'web', 'type': 'http'}, ["check 'web' (checks[0])", 'url is required for type http']),
    ({'name': 'web', 'type': 'htp', 'url': 'http://127.0.0.1'}, ["check 'web' (checks[0])", "type must be one of", "'htp'"]),
    ({'name': 'db', 'type': 'tcp', 'host': '127.0.0.1', 'port': 5432, 'url': 'http://127.0.0.1'},
     ["check 'db' (checks[0])", 'url does not apply to type tcp']),
    ({'name': 'cache', 'type': 'redis', 'host': '127.0.0.1', 'sentinel': True},
     ["check 'cache' (checks[0])", 'master_name is required with sentinel: true']),
    ({'name': 'web', 'type': 'http', 'url': 'http://127.0.0.1', 'max_error_rate': 2.0},
     ["check 'web' (checks[0])", 'max_error_rate must be at most 1.0']),
])
def test_invalid_check_names_the_check_and_field(clock, check, words):
    outcome, result = run_module({'checks': [check]})
    assert outcome == 'fail'
    for word in words:
        assert word in result['msg']
    assert 'checks' not in result  # nothing ran
    assert clock.sleeps == []


def test_an_option_no_check_type_knows_is_refused_naming_it():
    outcome, result = run_module({'checks': [{'name': 'web', 'type': 'http', 'url': 'http://127.0.0.1', 'uri': '/health'}]})
    assert outcome == 'fail'
    assert 'checks.uri' in result['msg']


def test_duplicate_names_are_refused():
    checks = [{'name': 'db', 'type': 'tcp', 'host': '127.0.0.1', 'port': 1}] * 2
    outcome, result = run_module({'checks': checks})
    assert outcome == 'fail'
    assert "check 'db' (checks[1]): name 'db' is already used by checks[0]" in result['msg']


@pytest.mark.parametrize('option, value, words', [
    ('timeout', 0, 'timeout must be above 0'),
    ('interval', -1, 'interval must be 0 seconds or more'),
    ('required_successes', 0, 'required_successes must be at least 1'),
])
def test_invalid_top_level_options_are_named(option, value, words):
    args = {'checks': [{'name': 'db', 'type': 'tcp', 'host': '127.0.0.1', 'port': 1}], option: value}
    outcome, result = run_module(args)
    assert outcome == 'fail'
    assert words in result['msg']


def test_json_query_without_jmespath_asks_for_the_library(monkeypatch):
    monkeypatch.setattr(_health, 'HAS_JMESPATH', False)
    outcome, result = run_module({'checks': [{'name': 'web', 'type': 'http', 'url': 'http://127.0.0.1', 'json_query': 'status'}]})
    assert outcome == 'fail'
    assert 'jmespath' in result['msg']


def test_jmespath_is_not_needed_without_json_query(monkeypatch, http_server, clock):
    monkeypatch.setattr(_health, 'HAS_JMESPATH', False)
    http_server.routes['/health'] = (200, {})
    outcome, result = run_module({'checks': [{'name': 'web', 'type': 'http', 'url': http_server.base + '/health'}]})
    assert outcome == 'exit', result.get('msg')


# -------------------------------------------------------------------------------- gate outcomes

def test_all_checks_pass(http_server, redis_server, clock):
    http_server.routes['/health/ready'] = (200, {'status': 'ok', 'redis': 'connected'})
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(4)
    try:
        outcome, result = run_module({
            'checks': [
                {'name': 'app', 'type': 'http', 'url': http_server.base + '/health/ready', 'json_query': 'status', 'expect': 'ok',
                 'requests': 3, 'max_error_rate': 0.0},
                {'name': 'port', 'type': 'tcp', 'host': '127.0.0.1', 'port': listener.getsockname()[1]},
                {'name': 'cache', 'type': 'redis', 'host': '127.0.0.1', 'port': redis_server.port, 'password': REDIS_PASSWORD,
                 'expect_role': 'master'},
            ],
        })
    finally:
        listener.close()
    assert outcome == 'exit', result.get('msg')
    assert result['changed'] is False
    assert result['passed'] is True
    assert result['rounds'] == 1
    assert result['elapsed'] == 0.0
    assert clock.sleeps == []
    reports = dict((report['name'], report) for report in result['checks'])
    assert set(reports) == {'app', 'port', 'cache'}
    assert all(report['passed'] and report['attempts'] == 1 for report in reports.values())
    assert reports['app']['type'] == 'http'
    assert reports['app']['error_rate'] == 0.0
    assert reports['app']['last_detail'].startswith('3/3 requests passed')
    assert reports['cache']['last_detail'].endswith('role master with 0 connected replicas')
    assert reports['cache']['error_rate'] is None
    assert isinstance(reports['port']['latency_ms'], float)
    assert len(http_server.hits) == 3


def test_budget_exhausted_fails_with_the_report(http_server, clock):
    http_server.routes['/health'] = (503, {'status': 'degraded'})
    http_server.routes['/ok'] = (200, {})
    outcome, result = run_module({
        'timeout': 10,
        'interval': 2,
        'checks': [
            {'name': 'app', 'type': 'http', 'url': http_server.base + '/health'},
            {'name': 'proxy', 'type': 'http', 'url': http_server.base + '/ok'},
            {'name': 'db', 'type': 'tcp', 'host': '127.0.0.1', 'port': closed_port()},
        ],
    })
    assert outcome == 'fail'
    assert result['changed'] is False
    assert result['passed'] is False
    assert result['rounds'] == 5
    assert clock.sleeps == [2.0] * 4
    msg = result['msg']
    assert msg.startswith('Health gate failed: 2 of 3 checks not passing after 5 rounds in 8.0s (budget 10.0s): ')
    assert 'app (http): HTTP 503 (accepted: 200)' in msg
    assert 'db (tcp): connection to 127.0.0.1:' in msg
    assert 'proxy' not in msg
    reports = dict((report['name'], report) for report in result['checks'])
    assert reports['app']['attempts'] == 5 and reports['app']['passed'] is False
    assert reports['proxy']['attempts'] == 1 and reports['proxy']['passed'] is True
    assert [hit['path'] for hit in http_server.hits].count('/health') == 5


def test_gate_passes_once_the_service_recovers(http_server, clock, monkeypatch):
    http_server.routes['/health'] = (503, {})
    original = clock.sleep

    def sleep_then_recover(seconds):
        original(seconds)
        if len(clock.sleeps) == 2:
            http_server.routes['/health'] = (200, {})

    monkeypatch.setattr(health_gate, '_sleep', sleep_then_recover)
    outcome, result = run_module({'timeout': 30, 'interval': 1, 'checks': [{'name': 'app', 'type': 'http', 'url': http_server.base + '/health'}]})
    assert outcome == 'exit', result.get('msg')
    assert result['rounds'] == 3
    assert result['checks'][0]['attempts'] == 3


def test_required_successes_runs_every_check_each_round(http_server, clock):
    http_server.routes['/a'] = (200, {})
    http_server.routes['/b'] = (200, {})
    outcome, result = run_module({
        'required_successes': 3, 'interval': 1,
        'checks': [{'name': 'a', 'type': 'http', 'url': http_server.base + '/a'},
                   {'name': 'b', 'type': 'http', 'url': http_server.base + '/b'}],
    })
    assert outcome == 'exit', result.get('msg')
    assert result['rounds'] == 3
    assert [report['consecutive_successes'] for report in result['checks']] == [3, 3]
    assert sorted(hit['path'] for hit in http_server.hits) == ['/a'] * 3 + ['/b'] * 3


def test_passwords_never_appear_in_the_output(http_server, redis_server, clock):
    http_server.routes['/api/nodes'] = (200, [{'name': 'rabbit@a', 'running': True, 'mem_alarm': False, 'disk_free_alarm': True}])
    http_server.routes['/private'] = (403, {})
    outcome, result = run_module({
        'timeout': 3, 'interval': 1,
        'checks': [
            {'name': 'cache', 'type': 'redis', 'host': '127.0.0.1', 'port': redis_server.port, 'password': REDIS_PASSWORD + '-wrong'},
            {'name': 'mq', 'type': 'rabbitmq', 'url': http_server.base, 'username': 'monitor', 'password': RABBITMQ_PASSWORD},
            {'name': 'web', 'type': 'http', 'url': http_server.base + '/private', 'username': 'gate', 'password': HTTP_PASSWORD},
        ],
    })
    assert outcome == 'fail'
    # The secrets reached the services ...
    assert ['AUTH', REDIS_PASSWORD + '-wrong'] in redis_server.commands
    assert any(hit['headers'].get('Authorization', '').startswith('Basic ') for hit in http_server.hits)
    # ... and appear nowhere in what the module returns.
    text = json.dumps(result)
    for secret in (REDIS_PASSWORD, RABBITMQ_PASSWORD, HTTP_PASSWORD):
        assert secret not in text
    assert 'WRONGPASS' in result['msg']
    assert 'rabbit@a has disk_free_alarm' in result['msg']
    assert 'web (http): HTTP 403' in result['msg']


def test_runs_in_check_mode(http_server, clock):
    http_server.routes['/health'] = (200, {})
    outcome, result = run_module({'_ansible_check_mode': True, 'checks': [{'name': 'app', 'type': 'http', 'url': http_server.base + '/health'}]})
    assert outcome == 'exit', result.get('msg')
    assert result['passed'] is True and result['changed'] is False
    assert len(http_server.hits) == 1  # the probe really ran


def _documented_default(option):
    return yaml.safe_load(health_gate.DOCUMENTATION)['options'][option]['default']


def test_without_timeout_or_interval_a_failing_gate_spends_the_documented_budget_in_documented_steps(http_server, clock):
    """The defaults as the user meets them: the budget and the pause the documentation promises."""
    timeout, interval = float(_documented_default('timeout')), float(_documented_default('interval'))
    http_server.routes['/health'] = (503, {})
    outcome, result = run_module({'checks': [{'name': 'app', 'type': 'http', 'url': http_server.base + '/health'}]})
    assert outcome == 'fail'
    assert clock.sleeps and set(clock.sleeps) == {interval}
    # It kept trying until one more pause would overrun the budget, and no longer.
    assert sum(clock.sleeps) <= timeout <= sum(clock.sleeps) + interval
    assert 'budget %.1fs' % timeout in result['msg']
    assert result['rounds'] == len(clock.sleeps) + 1


def test_without_required_successes_one_passing_round_is_enough(http_server, clock):
    """The documented default (1) behaves as 1: a single round; 2 would need a second one."""
    assert _documented_default('required_successes') == 1
    http_server.routes['/health'] = (200, {})
    check = [{'name': 'app', 'type': 'http', 'url': http_server.base + '/health'}]
    outcome, result = run_module({'checks': check})
    assert outcome == 'exit', result.get('msg')
    assert result['rounds'] == 1 and clock.sleeps == []
    outcome, result = run_module({'checks': check, 'required_successes': 2})
    assert outcome == 'exit' and result['rounds'] == 2


def test_argument_spec_declares_every_check_field():
    spec = health_gate.argument_spec()
    options = spec['checks']['options']
    assert options['password']['no_log'] is True
    # Every option a check type knows is declared, and nothing else.
    known = set(_health.COMMON_FIELDS)
    for fields in _health.TYPE_FIELDS.values():
        known.update(fields)
    assert set(options) == known
