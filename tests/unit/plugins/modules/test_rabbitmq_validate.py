# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

_COLLECTIONS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.collections')
if os.path.isdir(_COLLECTIONS) and os.path.abspath(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, os.path.abspath(_COLLECTIONS))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.flash.connect.plugins.module_utils import _rabbitmq  # noqa: E402
from ansible_collections.flash.connect.plugins.modules import rabbitmq_validate  # noqa: E402
from ansible_collections.flash.connect.tests.unit.plugins.modules.harness import ExitJson, FailJson, patch_exits  # noqa: E402


@pytest.fixture
def run(monkeypatch):
    def _run(args, check_mode=False):
        patch_exits(monkeypatch)
        full = dict(args)
        full['_ansible_check_mode'] = check_mode
        with patch_module_args(full):
            with pytest.raises((ExitJson, FailJson)) as caught:
                rabbitmq_validate.main()
        return caught.type, caught.value.args[0]
    return _run


QUEUES = [{'vhost': 'flash', 'name': n} for n in
          ('flash_whatsapp_events', 'events:message.sent', 'whatsapp:outgoing', 'pulse.dead-letters')]


@pytest.mark.parametrize('value,grammar', [
    ('rabbit@rmq-1', 'node'),
    ('rabbit@host.example.org', 'node'),
    ('+S 1:1 +sbwt none', 'env'),
    ('', 'env'),
    ('pause_minority', 'conf'),
    ('/var/backups/rabbitmq/definitions.json', 'conf'),
    ('events:message.sent', 'name'),
    ('flash', 'name'),
])
def test_grammar_accepts_ordinary_values(value, grammar):
    assert _rabbitmq.check_grammar(value, grammar) is None


@pytest.mark.parametrize('value,grammar', [
    ('rabbit@x\nloopback_users = none', 'node'),
    ('rabbit', 'node'),
    ('rabbit@x;id', 'node'),
    ('+S 1 "$(id)"', 'env'),
    ('+S 1 `id`', 'env'),
    ('+S 1\nRABBITMQ_NODENAME=evil@x', 'env'),
    ('a\\', 'env'),
    ('pause_minority # x', 'conf'),
    ('pause_minority\nloopback_users = none', 'conf'),
    ("'x'", 'conf'),
    (' x', 'conf'),
    ('flash\n', 'name'),
    ('fl\x01ash', 'name'),
    ('', 'name'),
])
def test_grammar_refuses_injection(value, grammar):
    assert _rabbitmq.check_grammar(value, grammar)


@pytest.mark.parametrize('pattern,matched', [
    ('^events:.*', ['events:message.sent']),
    ('^whatsapp:.*', ['whatsapp:outgoing']),
    ('^flash_whatsapp_events$', ['flash_whatsapp_events']),
])
def test_policy_patterns_match_declared_queues(pattern, matched):
    errors, matches = _rabbitmq.check_policies(
        [{'var': 'rabbitmq_app_policies', 'name': 'p', 'vhost': 'flash', 'pattern': pattern}], QUEUES)
    assert errors == []
    assert matches == {'flash/p': matched}


@pytest.mark.parametrize('pattern,why', [
    ('([', 'not a valid regular expression'),
    ('^events\\.', 'matches none of the declared queues'),
    ('', 'pattern is missing'),
    ('^a$\n', 'newline'),
])
def test_bad_policy_patterns_are_refused_naming_the_variable(pattern, why):
    errors, dummy = _rabbitmq.check_policies(
        [{'var': 'rabbitmq_policies', 'name': 'p', 'vhost': 'flash', 'pattern': pattern}], QUEUES)
    assert len(errors) == 1
    assert errors[0].startswith('rabbitmq_policies (flash/p)')
    assert why in errors[0]


def test_a_pattern_matching_only_another_vhosts_queue_is_refused():
    errors, dummy = _rabbitmq.check_policies(
        [{'var': 'rabbitmq_policies', 'name': 'p', 'vhost': 'other', 'pattern': '^events:.*'}], QUEUES)
    assert 'matches none' in errors[0]


def test_exchange_policies_are_not_matched_to_queues():
    errors, matches = _rabbitmq.check_policies(
        [{'var': 'rabbitmq_policies', 'name': 'p', 'vhost': 'flash', 'pattern': '^pulse', 'apply_to': 'exchanges'}],
        QUEUES)
    assert errors == [] and matches == {}


@pytest.mark.parametrize('check_mode', [False, True])
def test_module_passes_good_input_in_both_modes(run, check_mode):
    kind, res = run({'values': [{'var': 'rabbitmq_node_name', 'value': 'rabbit@rmq-1', 'grammar': 'node'}],
                     'policies': [{'var': 'rabbitmq_app_policies', 'name': 'app.events', 'vhost': 'flash',
                                   'pattern': '^events:.*'}],
                     'queues': QUEUES}, check_mode=check_mode)
    assert kind is ExitJson
    assert res['changed'] is False
    assert res['matches'] == {'flash/app.events': ['events:message.sent']}


def test_module_names_every_bad_variable(run):
    kind, res = run({'values': [{'var': 'rabbitmq_node_name', 'value': 'rabbit@x\nFOO=1', 'grammar': 'node'},
                                {'var': 'rabbitmq_server_additional_erl_args', 'value': '$(id)', 'grammar': 'env'}],
                     'policies': [{'var': 'rabbitmq_app_policies', 'name': 'bad', 'vhost': 'flash', 'pattern': '(['}],
                     'queues': QUEUES})
    assert kind is FailJson
    assert [e.split(':')[0].split(' ')[0] for e in res['errors']] == [
        'rabbitmq_node_name', 'rabbitmq_server_additional_erl_args', 'rabbitmq_app_policies']
    assert 'rabbitmq_node_name' in res['msg'] and 'rabbitmq_app_policies' in res['msg']
