# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_elect_masters decides what templates/masters.j2 decided, branch by branch.

Each scenario is what the hosts of the group see; it is fed both to the filter (as redis_info
results) and to the Jinja election it replaces (as the redis-cli outputs that template read),
and both must give the same dict.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import jinja2
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.flash.connect.plugins.filter.redis import redis_elect_masters, redis_quote

INSTANCES = [
    {'name': 'session', 'port': 6379, 'master_name': 'flash-session'},
    {'name': 'cache', 'port': 6380, 'master_name': 'flash-cache'},
]
HOSTS = ['redis-1', 'redis-2', 'redis-3']
ANNOUNCE = {'redis-1': '10.0.0.11', 'redis-2': '10.0.0.12', 'redis-3': '10.0.0.13'}

# What one host sees: per instance name, its Sentinel's answer (None: no Sentinel running,
# 'unknown': Sentinel does not know the name, else (host, port)) and its instance's ROLE (None:
# not running, 'master', else ('slave', host, port)).
DOWN = {'sentinel': {'session': None, 'cache': None}, 'role': {'session': None, 'cache': None}}


def host(sentinel=None, role=None):
    view = {'sentinel': dict(DOWN['sentinel']), 'role': dict(DOWN['role'])}
    view['sentinel'].update(sentinel or {})
    view['role'].update(role or {})
    return view


def views_for(scene):
    """The scene as the filter's input: redis_info results."""
    views = []
    for name in HOSTS:
        seen = scene.get(name, host())
        up = any(v is not None for v in seen['sentinel'].values())
        masters = {}
        for inst in INSTANCES:
            answer = seen['sentinel'][inst['name']]
            if answer is not None:
                masters[inst['master_name']] = None if answer == 'unknown' else {'host': answer[0], 'port': str(answer[1])}
        results = []
        for inst in INSTANCES:
            role = seen['role'][inst['name']]
            if role is None:
                results.append({'item': inst, 'reachable': False, 'role': {}, 'changed': False})
            elif role == 'master':
                results.append({'item': inst, 'reachable': True, 'role': {'role': 'master', 'offset': 10, 'replicas': []}})
            else:
                results.append({'item': inst, 'reachable': True,
                                'role': {'role': 'slave', 'master_host': role[1], 'master_port': role[2], 'link': 'connected', 'offset': 10}})
        views.append({'host': name, 'announce': ANNOUNCE[name],
                      'sentinel': {'reachable': up, 'masters': masters if up else {}, 'role': {}, 'info': {}},
                      'instances': results})
    return views


def hostvars_for(scene):
    """The scene as masters.j2 read it: redis-cli command results."""
    hostvars = {}
    for name in HOSTS:
        seen = scene.get(name, host())
        sentinel, roles = [], []
        for inst in INSTANCES:
            answer = seen['sentinel'][inst['name']]
            if answer is None:
                sentinel.append({'item': inst, 'rc': 1, 'stdout_lines': []})
            elif answer == 'unknown':
                sentinel.append({'item': inst, 'rc': 0, 'stdout_lines': ['']})
            else:
                sentinel.append({'item': inst, 'rc': 0, 'stdout_lines': [answer[0], str(answer[1])]})
            role = seen['role'][inst['name']]
            if role is None:
                roles.append({'item': inst, 'rc': 1, 'stdout_lines': []})
            elif role == 'master':
                roles.append({'item': inst, 'rc': 0, 'stdout_lines': ['master', '10']})
            else:
                roles.append({'item': inst, 'rc': 0, 'stdout_lines': ['slave', role[1], str(role[2]), 'connected', '10']})
        hostvars[name] = {'_redis_self_announce': ANNOUNCE[name], '__redis_sentinel_view': {'results': sentinel},
                          '__redis_role_view': {'results': roles}}
    return hostvars


# roles/redis/templates/masters.j2 as it was when the filter replaced it, verbatim.
MASTERS_J2 = r'''{# One entry per instance: host (inventory name), addr (announced), source, reason, seen. #}
{% set out = {} %}
{% for inst in redis_instances %}
{%   set seen = [] %}
{%   set replica_of = [] %}
{%   for h in _redis_hosts %}
{%     for r in hostvars[h]['__redis_sentinel_view']['results'] | default([]) %}
{%       if r.item.name == inst.name and r.rc | default(1) == 0 %}
{%         set lines = r.stdout_lines | reject('equalto', '') | list %}
{%         if lines | length == 2 and lines[1] == inst.port | string %}{% set _ = seen.append(lines[0]) %}{% endif %}
{%       endif %}
{%     endfor %}
{%     for r in hostvars[h]['__redis_role_view']['results'] | default([]) %}
{%       if r.item.name == inst.name and r.rc | default(1) == 0 and (r.stdout_lines | default([]) | first | default('')) == 'slave' %}
{%         set _ = replica_of.append(r.stdout_lines[1]) %}
{%       endif %}
{%     endfor %}
{%   endfor %}
{%   if seen | unique | length == 1 %}
{%     set addr = seen | first %}{% set source = 'sentinel' %}{% set reason = '' %}
{%   elif seen | unique | length > 1 %}
{%     set addr = '' %}{% set source = 'sentinel' %}{% set reason = 'the Sentinels disagree' %}
{%   elif replica_of | unique | length == 1 %}
{%     set addr = replica_of | first %}{% set source = 'replication' %}{% set reason = '' %}
{%   elif replica_of | unique | length > 1 %}
{%     set addr = '' %}{% set source = 'replication' %}{% set reason = 'replicas follow different masters' %}
{%   else %}
{%     set addr = hostvars[_redis_bootstrap_master]['_redis_self_announce'] %}{% set source = 'bootstrap' %}{% set reason = '' %}
{%   endif %}
{%   set match = [] %}
{%   for h in _redis_hosts %}{% if addr | length > 0 and hostvars[h]['_redis_self_announce'] == addr %}{% set _ = match.append(h) %}{% endif %}{% endfor %}
{%   set _ = out.update({inst.name: {'host': match | first | default(''), 'addr': addr, 'port': inst.port, 'source': source,
                                     'reason': reason if reason else ('master ' ~ addr ~ ' is no host of the group' if not match else ''),
                                     'seen': seen | unique | list}}) %}
{% endfor %}
{{ out | to_json }}
'''


def unique(values):
    out = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def render_masters_j2(scene, bootstrap):
    """The election as roles/redis/templates/masters.j2 made it (kept here as the reference)."""
    env = jinja2.Environment()
    env.filters['unique'] = unique
    env.filters['to_json'] = json.dumps
    out = env.from_string(MASTERS_J2).render(redis_instances=INSTANCES, _redis_hosts=HOSTS, hostvars=hostvars_for(scene),
                                             _redis_bootstrap_master=bootstrap)
    return json.loads(out)


S = ('10.0.0.11', 6379)
SENTINELS_AGREE = {h: host(sentinel={'session': ('10.0.0.12', 6379), 'cache': ('10.0.0.13', 6380)},
                           role={'session': ('slave', '10.0.0.12', 6379), 'cache': ('slave', '10.0.0.13', 6380)}) for h in HOSTS}

SCENES = {
    # Sentinel agreement beats the replicas (which lag behind a failover) and the bootstrap host.
    'sentinel agreement': (SENTINELS_AGREE, {'session': ('redis-2', '10.0.0.12', 'sentinel', ''), 'cache': ('redis-3', '10.0.0.13', 'sentinel', '')}),
    'sentinels disagree': ({
        'redis-1': host(sentinel={'session': ('10.0.0.11', 6379), 'cache': ('10.0.0.11', 6380)}),
        'redis-2': host(sentinel={'session': ('10.0.0.12', 6379), 'cache': ('10.0.0.11', 6380)}),
    }, {'session': ('', '', 'sentinel', 'the Sentinels disagree'), 'cache': ('redis-1', '10.0.0.11', 'sentinel', '')}),
    # One Sentinel down, one that does not know the name: the others still decide.
    'some sentinels silent': ({
        'redis-1': host(sentinel={'session': 'unknown', 'cache': 'unknown'}),
        'redis-3': host(sentinel={'session': ('10.0.0.13', 6379), 'cache': ('10.0.0.12', 6380)}),
    }, {'session': ('redis-3', '10.0.0.13', 'sentinel', ''), 'cache': ('redis-2', '10.0.0.12', 'sentinel', '')}),
    # A Sentinel that names another port speaks of another instance: it does not count.
    'sentinel names another port': ({
        'redis-1': host(sentinel={'session': ('10.0.0.13', 6380), 'cache': ('10.0.0.13', 6379)},
                        role={'session': ('slave', '10.0.0.12', 6379)}),
    }, {'session': ('redis-2', '10.0.0.12', 'replication', ''), 'cache': ('redis-1', '10.0.0.11', 'bootstrap', '')}),
    'replication agreement': ({
        'redis-1': host(role={'session': 'master', 'cache': ('slave', '10.0.0.12', 6380)}),
        'redis-2': host(role={'session': ('slave', '10.0.0.11', 6379), 'cache': 'master'}),
        'redis-3': host(role={'session': ('slave', '10.0.0.11', 6379), 'cache': ('slave', '10.0.0.12', 6380)}),
    }, {'session': ('redis-1', '10.0.0.11', 'replication', ''), 'cache': ('redis-2', '10.0.0.12', 'replication', '')}),
    'replication disagreement': ({
        'redis-2': host(role={'session': ('slave', '10.0.0.11', 6379)}),
        'redis-3': host(role={'session': ('slave', '10.0.0.12', 6379)}),
    }, {'session': ('', '', 'replication', 'replicas follow different masters'), 'cache': ('redis-1', '10.0.0.11', 'bootstrap', '')}),
    'bootstrap (first run, nothing answers)': ({}, {'session': ('redis-2', '10.0.0.12', 'bootstrap', ''), 'cache': ('redis-2', '10.0.0.12', 'bootstrap', '')}),
    'master not in the group': ({
        'redis-1': host(sentinel={'session': ('10.9.9.9', 6379)}, role={'cache': ('slave', '10.9.9.8', 6380)}),
    }, {'session': ('', '10.9.9.9', 'sentinel', 'master 10.9.9.9 is no host of the group'),
        'cache': ('', '10.9.9.8', 'replication', 'master 10.9.9.8 is no host of the group')}),
}
BOOTSTRAP = {'bootstrap (first run, nothing answers)': 'redis-2'}


@pytest.mark.parametrize('name', sorted(SCENES))
def test_elect_masters_decides_like_the_template(name):
    scene, expected = SCENES[name]
    bootstrap = BOOTSTRAP.get(name, 'redis-1')
    got = redis_elect_masters(INSTANCES, views_for(scene), bootstrap)
    assert got == render_masters_j2(scene, bootstrap)
    for inst in INSTANCES:
        want_host, want_addr, want_source, want_reason = expected[inst['name']]
        decided = got[inst['name']]
        assert (decided['host'], decided['addr'], decided['source'], decided['reason']) == (want_host, want_addr, want_source, want_reason)
        assert decided['port'] == inst['port']


def test_elect_masters_seen_lists_each_address_once_in_order():
    scene = {'redis-1': host(sentinel={'session': ('10.0.0.12', 6379)}),
             'redis-2': host(sentinel={'session': ('10.0.0.11', 6379)}),
             'redis-3': host(sentinel={'session': ('10.0.0.12', 6379)})}
    got = redis_elect_masters(INSTANCES, views_for(scene), 'redis-1')
    assert got['session']['seen'] == ['10.0.0.12', '10.0.0.11']


def test_elect_masters_ignores_skipped_and_failed_results():
    views = views_for(SENTINELS_AGREE)
    for view in views:
        view['sentinel'] = {'skipped': True}
        view['instances'] = [{'failed': True, 'reachable': True, 'item': i, 'role': {'role': 'slave', 'master_host': '10.0.0.13'}}
                             for i in INSTANCES]
    got = redis_elect_masters(INSTANCES, views, 'redis-1')
    assert got['session']['source'] == 'bootstrap' and got['session']['host'] == 'redis-1'


def test_elect_masters_without_a_view_of_the_bootstrap_host_fails():
    with pytest.raises(AnsibleFilterError, match='bootstrap master redis-9'):
        redis_elect_masters(INSTANCES, views_for({}), 'redis-9')


def test_elect_masters_refuses_a_view_without_host():
    with pytest.raises(AnsibleFilterError, match='inventory name'):
        redis_elect_masters(INSTANCES, [{'announce': '10.0.0.11'}], 'redis-1')


@pytest.mark.parametrize('value, quoted', [('a b', '"a b"'), ('q"\\', '"q\\"\\\\"'), (6379, '"6379"')])
def test_redis_quote(value, quoted):
    assert redis_quote(value) == quoted
