# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The definitions compare sees every change a restore could miss, and nothing else."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.flash.connect.plugins.filter.backup import (
    rabbitmq_definitions_diff, rabbitmq_definitions_normalised, rabbitmq_definitions_own_data)

# The shape rabbitmqctl 3.10 exports (export_definitions - --format json).
EXPORT = {
    'rabbit_version': '3.10.8', 'rabbitmq_version': '3.10.8',
    'product_name': 'RabbitMQ', 'product_version': '3.10.8',
    'users': [
        {'name': 'guest', 'password_hash': 'aGFzaDE=', 'hashing_algorithm': 'rabbit_password_hashing_sha256',
         'tags': ['administrator'], 'limits': {}},
        {'name': 'flash-app', 'password_hash': 'c2VjcmV0aGFzaA==',
         'hashing_algorithm': 'rabbit_password_hashing_sha256', 'tags': [], 'limits': {}},
    ],
    'vhosts': [{'name': '/'}, {'name': 'flash'}],
    'permissions': [{'user': 'flash-app', 'vhost': 'flash', 'configure': '.*', 'write': '.*', 'read': '.*'}],
    'topic_permissions': [],
    'parameters': [],
    'global_parameters': [{'name': 'cluster_name', 'value': 'rabbit@rmq-1'}],
    'policies': [{'vhost': 'flash', 'name': 'ttl', 'pattern': '^events$', 'apply-to': 'queues',
                  'definition': {'message-ttl': 60000}, 'priority': 0}],
    'queues': [{'name': 'events', 'vhost': 'flash', 'durable': True, 'auto_delete': False,
                'arguments': {'x-queue-type': 'quorum'}}],
    'exchanges': [{'name': 'payments', 'vhost': 'flash', 'type': 'topic', 'durable': True,
                   'auto_delete': False, 'internal': False, 'arguments': {}}],
    'bindings': [{'source': 'payments', 'vhost': 'flash', 'destination': 'events', 'destination_type': 'queue',
                  'routing_key': 'payment.#', 'arguments': {}}],
}


def shuffled(defs):
    """The same definitions listed in another order, as another node would export them."""
    out = copy.deepcopy(defs)
    for value in out.values():
        if isinstance(value, list):
            value.reverse()
    return out


def test_equal_exports_in_another_order_and_version_compare_equal():
    other = shuffled(EXPORT)
    other['rabbitmq_version'] = other['rabbit_version'] = '3.12.1'
    assert rabbitmq_definitions_diff(other, EXPORT) == {}
    assert rabbitmq_definitions_diff(json.dumps(other), json.dumps(EXPORT)) == {}
    assert rabbitmq_definitions_normalised(other) == rabbitmq_definitions_normalised(EXPORT)
    assert 'rabbit_version' not in rabbitmq_definitions_normalised(EXPORT)


@pytest.mark.parametrize('section, change, label', [
    ('users', lambda d: d['users'].pop(), 'user flash-app'),
    ('vhosts', lambda d: d['vhosts'].pop(), 'flash'),
    ('permissions', lambda d: d['permissions'][0].update(write='^$'), 'flash-app on flash'),
    ('policies', lambda d: d['policies'][0]['definition'].update({'message-ttl': 1}), 'ttl in flash'),
    ('queues', lambda d: d['queues'][0]['arguments'].pop('x-queue-type'), 'events in flash'),
    ('exchanges', lambda d: d['exchanges'][0].update(type='direct'), 'payments in flash'),
    ('bindings', lambda d: d['bindings'][0].update(routing_key='x'), 'payments -> queue events (payment.#)'),
    ('global_parameters', lambda d: d['global_parameters'].pop(), 'cluster_name'),
])
def test_each_lost_or_changed_definition_is_named(section, change, label):
    node = copy.deepcopy(EXPORT)
    change(node)
    diff = rabbitmq_definitions_diff(node, EXPORT)
    assert list(diff) == [section]
    assert label in diff[section]['missing']


def test_a_changed_password_hash_is_a_difference_without_showing_the_hash():
    node = copy.deepcopy(EXPORT)
    node['users'][1]['password_hash'] = 'b3RoZXI='
    diff = rabbitmq_definitions_diff(node, EXPORT)
    assert diff == {'users': {'missing': ['user flash-app'], 'extra': ['user flash-app']}}
    assert 'c2VjcmV0aGFzaA==' not in json.dumps(diff) and 'b3RoZXI=' not in json.dumps(diff)


def test_extras_count_unless_subset():
    node = copy.deepcopy(EXPORT)
    node['queues'].append({'name': 'own', 'vhost': '/', 'durable': True, 'auto_delete': False, 'arguments': {}})
    assert rabbitmq_definitions_diff(node, EXPORT) == {'queues': {'missing': [], 'extra': ['own in /']}}
    assert rabbitmq_definitions_diff(node, EXPORT, subset=True) == {}
    del node['queues'][0]
    assert rabbitmq_definitions_diff(node, EXPORT, subset=True) == {'queues': {'missing': ['events in flash'],
                                                                               'extra': []}}


def test_a_section_missing_on_one_side():
    node = copy.deepcopy(EXPORT)
    del node['bindings']
    assert rabbitmq_definitions_diff(node, EXPORT)['bindings']['missing'] == ['payments -> queue events (payment.#)']


def test_own_data_of_a_blank_and_a_used_node():
    blank = {'users': [EXPORT['users'][0]], 'vhosts': [{'name': '/'}], 'queues': [], 'exchanges': []}
    assert rabbitmq_definitions_own_data(blank) == []
    assert rabbitmq_definitions_own_data(json.dumps(EXPORT)) == ['queue events in flash', 'user flash-app']
    assert rabbitmq_definitions_own_data(EXPORT, default_users=['guest', 'flash-app']) == ['queue events in flash']


@pytest.mark.parametrize('bad', ['not json', '[1, 2]', 42])
def test_what_is_not_an_export_is_refused(bad):
    with pytest.raises(AnsibleFilterError):
        rabbitmq_definitions_diff(bad, EXPORT)
