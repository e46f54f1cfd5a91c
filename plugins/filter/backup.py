# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RabbitMQ definitions (``rabbitmqctl export_definitions``) compared as data, for the backup
role's restore: what differs between two exports, and whether a node holds anything of its own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

# Keys that name the software, not the definitions: they differ after an upgrade.
_IGNORED = ('rabbit_version', 'rabbitmq_version', 'product_name', 'product_version')
# The account a fresh node creates by itself.
_DEFAULT_USERS = ('guest',)


def _load(value, name):
    if isinstance(value, string_types):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise AnsibleFilterError('%s is not JSON: %s' % (name, e))
    if not isinstance(value, dict):
        raise AnsibleFilterError('%s must be a definitions object, got %s' % (name, type(value).__name__))
    return value


def _canonical(item):
    return json.dumps(item, sort_keys=True, separators=(',', ':'))


def _label(section, item):
    """A short name for an item, without its password hash."""
    if not isinstance(item, dict):
        return _canonical(item)
    if section == 'users':
        return 'user %s' % item.get('name')
    if section in ('permissions', 'topic_permissions'):
        return '%s on %s' % (item.get('user'), item.get('vhost'))
    if section == 'bindings':
        return '%s -> %s %s (%s)' % (item.get('source'), item.get('destination_type'), item.get('destination'),
                                     item.get('routing_key'))
    if 'name' in item:
        return '%s%s' % (item.get('name'), ' in %s' % item['vhost'] if 'vhost' in item else '')
    return _canonical(item)


def rabbitmq_definitions_normalised(definitions):
    """The definitions without the version keys, every list sorted by its items' canonical JSON."""
    defs = _load(definitions, 'definitions')
    out = {}
    for key, value in defs.items():
        if key in _IGNORED:
            continue
        out[key] = sorted(value, key=_canonical) if isinstance(value, list) else value
    return out


def rabbitmq_definitions_diff(definitions, other, subset=False):
    """What differs between two exports (versions ignored), section by section:
    ``{section: {'missing': [labels in other, not in definitions], 'extra': [labels in definitions only]}}``.
    Empty when they are equal. ``subset=True`` ignores the extras (a node that keeps definitions
    of its own). Users are labelled by name, never with their hash."""
    have = rabbitmq_definitions_normalised(definitions)
    want = rabbitmq_definitions_normalised(other)
    diff = {}
    for section in sorted(set(have) | set(want)):
        got, exp = have.get(section, []), want.get(section, [])
        if not isinstance(got, list) or not isinstance(exp, list):
            if got != exp:
                diff[section] = {'missing': [_canonical(exp)], 'extra': [] if subset else [_canonical(got)]}
            continue
        got_c = set(_canonical(i) for i in got)
        exp_c = set(_canonical(i) for i in exp)
        missing = sorted(_label(section, i) for i in exp if _canonical(i) not in got_c)
        extra = [] if subset else sorted(_label(section, i) for i in got if _canonical(i) not in exp_c)
        if missing or extra:
            diff[section] = {'missing': missing, 'extra': extra}
    return diff


def rabbitmq_definitions_own_data(definitions, default_users=_DEFAULT_USERS):
    """What a node holds beyond a fresh one: its queues and its users other than ``default_users``,
    as labels (empty list: the node is blank)."""
    defs = _load(definitions, 'definitions')
    found = ['queue %s' % _label('queues', q) for q in defs.get('queues') or []]
    found += ['user %s' % u.get('name') for u in defs.get('users') or [] if u.get('name') not in default_users]
    return sorted(found)


class FilterModule(object):
    def filters(self):
        return {
            'rabbitmq_definitions_normalised': rabbitmq_definitions_normalised,
            'rabbitmq_definitions_diff': rabbitmq_definitions_diff,
            'rabbitmq_definitions_own_data': rabbitmq_definitions_own_data,
        }
