#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_sentinel
short_description: Set a Sentinel's parameters for one master, only those that differ, and check its view
version_added: 0.2.0
description:
  - Reads what the Sentinel holds for I(master_name) with C(SENTINEL MASTER) and sets only the
    parameters that differ with one C(SENTINEL SET) (Sentinel rewrites its own file).
  - With I(verify), checks the Sentinel's view afterwards and fails naming the master when it is
    not healthy - the master flagged C(s_down) or C(o_down), fewer replicas or other Sentinels
    than expected, or C(SENTINEL CKQUORUM) not OK.
  - Talks RESP directly (no redis-cli), so the Sentinel password never reaches a command line.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  master_name:
    description: Name under which the Sentinel monitors the master.
    type: str
    required: true
  params:
    description:
      - Parameters of the master and the values they must have, as C(SENTINEL MASTER) prints them
        (C(quorum), C(down-after-milliseconds), C(failover-timeout), C(parallel-syncs)).
    type: dict
    default: {}
  auth_user:
    description:
      - ACL user the Sentinel logs in to the master and replicas as (C(SENTINEL SET <master> auth-user)).
      - Sentinel does not show it; it is compared with what Sentinel's own file I(config_file) holds.
    type: str
  auth_pass:
    description:
      - Password the Sentinel logs in with (C(SENTINEL SET <master> auth-pass)); compared with I(config_file).
      - To rotate it without a gap, the new password must already be accepted by the instances
        (the ACL holds both) when it is set here, and the old one leave the ACL only afterwards.
    type: str
  config_file:
    description: Sentinel's own file, read (never written) to compare I(auth_user) and I(auth_pass). Required with them.
    type: path
  verify:
    description: Check the Sentinel's view of the master (see the description) and fail when it is not healthy.
    type: bool
    default: false
  verify_login:
    description:
      - With I(verify) and I(config_file), also log in to the master and to every healthy replica
        the Sentinel knows, with the C(auth-user) and C(auth-pass) its own file holds, as the Sentinel
        does at its next reconnect; fail naming the master and the instance that refuses them.
      - Sentinel keeps the connections it opened while they last, so its view stays healthy after
        the instances stopped accepting its password (a rotation that never reached it); only a
        fresh login shows it. A connection that cannot be made at all is left to the view check.
    type: bool
    default: false
  expect_replicas:
    description: With I(verify), least number of replicas the Sentinel must know (not flagged down).
    type: int
    default: 0
  expect_sentinels:
    description: With I(verify), least number of Sentinels, this one included, that must know the master.
    type: int
    default: 1
  verify_timeout:
    description:
      - With I(verify), seconds to keep asking while the view is not healthy yet (Sentinels discover
        each other and the replicas through hello messages, every 2 seconds).
    type: int
    default: 30
  login_port:
    description: Port of the Sentinel.
    type: int
    default: 26379
  wait:
    description: Seconds to keep retrying while the Sentinel refuses connections (it was just started).
    type: int
    default: 30
extends_documentation_fragment:
  - flash.connect.redis
attributes:
  check_mode:
    support: full
    description: Reads and the I(verify) checks run; C(SENTINEL SET) does not.
  diff_mode:
    support: full
    description: Before and after of the managed parameters.
  idempotent:
    support: full
    description: A second run with the same options changes nothing.
'''

EXAMPLES = r'''
- name: Sentinel parameters of flash-session, then check the Sentinel's view
  flash.connect.redis_sentinel:
    master_name: flash-session
    login_password: "{{ redis_sentinel_requirepass }}"
    params:
      quorum: "2"
      down-after-milliseconds: "5000"
    verify: true
    expect_replicas: 2
    expect_sentinels: 3
  no_log: true
'''

RETURN = r'''
changed_params:
  description: Names of the parameters that were (or in check mode would be) set (C(auth-pass) by name only).
  returned: always
  type: list
  elements: str
  sample: [down-after-milliseconds]
view:
  description: With I(verify), what the Sentinel saw last.
  returned: when verify is true
  type: dict
  sample: {master: "redis-1:6379", flags: master, replicas: 2, sentinels: 3, ckquorum: "OK 3 usable Sentinels..."}
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.module_utils import _redis


def view_of(conn, name):
    """What the Sentinel holds for ``name``: address, flags, healthy replicas, Sentinels, CKQUORUM."""
    master = resp.pairs_to_dict(conn.command('SENTINEL', 'MASTER', name))
    replicas = [resp.pairs_to_dict(r) for r in conn.command('SENTINEL', 'REPLICAS', name) or []]
    try:
        ckquorum = conn.command('SENTINEL', 'CKQUORUM', name)
    except resp.RespError as exc:
        ckquorum = str(exc)
    healthy = [r for r in replicas
               if not set(str(r.get('flags', '')).split(',')) & set(['s_down', 'o_down', 'disconnected'])
               and r.get('master-link-status', 'ok') == 'ok']
    return dict(
        master='%s:%s' % (master.get('ip'), master.get('port')),
        flags=str(master.get('flags', '')),
        replicas=len(healthy),
        sentinels=int(master.get('num-other-sentinels', 0)) + 1,
        ckquorum=str(ckquorum),
    )


def refused_logins(conn, name, params, connect):
    """Instances of ``name`` (the master and its healthy replicas, as this Sentinel knows them) that
    refuse the auth-user/auth-pass Sentinel's own file holds: {address: error}."""
    held = _redis.sentinel_auth_from_file(params['config_file'], name)
    master = resp.pairs_to_dict(conn.command('SENTINEL', 'MASTER', name))
    targets = [(master.get('ip'), master.get('port'))]
    for replica in [resp.pairs_to_dict(r) for r in conn.command('SENTINEL', 'REPLICAS', name) or []]:
        if not set(str(replica.get('flags', '')).split(',')) & set(['s_down', 'o_down', 'disconnected']):
            targets.append((replica.get('ip'), replica.get('port')))
    refused = {}
    for host, port in targets:
        login = dict(params, login_host=to_text(host), login_port=int(port), login_user=held.get('auth-user'),
                     login_password=held.get('auth-pass'), wait=0)
        try:
            connect(login).close()
        except resp.RespError as exc:
            refused['%s:%s' % (host, port)] = str(exc)
        except Exception:  # unreachable: the view check reports it
            continue
    return refused


def problems(view, expect_replicas, expect_sentinels):
    """Why a Sentinel's view of a master is not healthy (empty: healthy)."""
    found = []
    flags = set(view['flags'].split(','))
    for flag in ('s_down', 'o_down', 'disconnected'):
        if flag in flags:
            found.append('master %s is flagged %s' % (view['master'], flag))
    if view['replicas'] < expect_replicas:
        found.append('knows %d healthy replica(s), expected %d' % (view['replicas'], expect_replicas))
    if view['sentinels'] < expect_sentinels:
        found.append('knows %d Sentinel(s) including itself, expected %d' % (view['sentinels'], expect_sentinels))
    if not view['ckquorum'].startswith('OK'):
        found.append('CKQUORUM says: %s' % view['ckquorum'])
    return found


def run_module(connect=_redis.connect, sleep=time.sleep, clock=time.time):
    spec = dict(
        master_name=dict(type='str', required=True),
        params=dict(type='dict', default={}),
        auth_user=dict(type='str'),
        auth_pass=dict(type='str', no_log=True),
        config_file=dict(type='path'),
        verify=dict(type='bool', default=False),
        verify_login=dict(type='bool', default=False),
        expect_replicas=dict(type='int', default=0),
        expect_sentinels=dict(type='int', default=1),
        verify_timeout=dict(type='int', default=30),
    )
    spec.update(_redis.connection_argument_spec())
    spec['login_port']['default'] = 26379
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_by=dict(auth_user='config_file', auth_pass='config_file'))
    name = module.params['master_name']
    wanted = dict((to_text(k), to_text(v)) for k, v in module.params['params'].items())
    result = dict(changed=False, changed_params=[])
    try:
        conn = connect(module.params)
    except Exception as exc:
        module.fail_json(msg='cannot reach Sentinel %s:%s: %s' % (module.params['login_host'], module.params['login_port'], exc), **result)
    with conn:
        try:
            current = resp.pairs_to_dict(conn.command('SENTINEL', 'MASTER', name))
            current = dict((k, to_text(current[k])) for k in wanted if k in current)
            todo = dict((k, v) for k, v in wanted.items() if current.get(k) != v)
            result['changed_params'] = sorted(todo)
            result['changed'] = bool(todo)
            if module._diff:
                result['diff'] = dict(before=current, after=dict(current, **wanted))
            auth = dict((k, module.params[p]) for k, p in (('auth-user', 'auth_user'), ('auth-pass', 'auth_pass'))
                        if module.params[p] is not None)
            if auth:
                try:
                    held = _redis.sentinel_auth_from_file(module.params['config_file'], name)
                except (IOError, OSError) as exc:
                    module.fail_json(msg='cannot read %s: %s' % (module.params['config_file'], exc), **result)
                auth_todo = dict((k, v) for k, v in auth.items() if held.get(k) != v)
                if auth_todo:
                    todo.update(auth_todo)
                    result['changed_params'] = sorted(todo)
                    result['changed'] = True
                    if module._diff:
                        shown = _redis.masked_diff(dict((k, held.get(k) or '') for k in auth_todo), auth_todo)
                        result['diff']['before'].update(shown['before'])
                        result['diff']['after'].update(shown['after'])
            if todo and not module.check_mode:
                args = []
                for key in sorted(todo):
                    args.extend([key, todo[key]])
                conn.command('SENTINEL', 'SET', name, *args)
            if module.params['verify']:
                deadline = clock() + module.params['verify_timeout']
                while True:
                    view = view_of(conn, name)
                    found = problems(view, module.params['expect_replicas'], module.params['expect_sentinels'])
                    if not found or clock() >= deadline:
                        break
                    sleep(1)
                result['view'] = view
                if not found and module.params['verify_login']:
                    if not module.params['config_file']:
                        module.fail_json(msg='verify_login needs config_file, Sentinel\'s own file', **result)
                    try:
                        refused = refused_logins(conn, name, module.params, connect)
                    except (IOError, OSError) as exc:
                        module.fail_json(msg='cannot read %s: %s' % (module.params['config_file'], exc), **result)
                    found = ['%s refuses the user and password this Sentinel holds (%s): it loses that instance at its next '
                             'reconnect' % (address, error) for address, error in sorted(refused.items())]
                if found:
                    where = '%s:%s' % (module.params['login_host'], module.params['login_port'])
                    module.fail_json(msg='Sentinel %s, master %s: %s' % (where, name, '; '.join(found)), **result)
        except resp.RespError as exc:
            module.fail_json(msg='Sentinel %s:%s, master %s: %s' % (module.params['login_host'], module.params['login_port'], name, exc),
                             **result)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == '__main__':
    main()
