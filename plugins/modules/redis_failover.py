#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_failover
short_description: Move a master away from a host through Sentinel (SENTINEL FAILOVER) and wait until it is done
version_added: 0.3.0
description:
  - Asks a Sentinel where the master I(master_name) is (C(SENTINEL MASTER)). When it is on one of
    I(away_from) and Sentinel knows a healthy replica (not flagged down or disconnected, link ok),
    sends C(SENTINEL FAILOVER) and waits until Sentinel names another master whose flags are
    exactly C(master) (the failover finished).
  - Changes nothing, and says why in RV(reason), when the master is already elsewhere or has no
    healthy replica to hand over to (a one-host set can only restart its master in place).
  - Talks RESP directly (no redis-cli), so the Sentinel password never reaches a command line.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  master_name:
    description: Name under which the Sentinel monitors the master.
    type: str
    required: true
  away_from:
    description:
      - Addresses of the host the master must leave, as Sentinel names it (the announced address);
        an entry C(host:port) matches only that port.
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds to wait for the failover to finish before failing (naming the master).
    type: int
    default: 120
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
    description: Reads where the master is and reports changed when it would fail over; sends no C(SENTINEL FAILOVER).
  diff_mode:
    support: full
    description: The master before and after.
  idempotent:
    support: full
    description: Once the master has left I(away_from), a second run changes nothing.
'''

EXAMPLES = r'''
- name: Hand the master of flash-session to a replica before restarting redis-1
  flash.connect.redis_failover:
    master_name: flash-session
    away_from: ["{{ hostvars['redis-1'].redis_announce_host }}"]
    login_password: "{{ redis_sentinel_requirepass }}"
    timeout: 120
  delegate_to: redis-1
  no_log: true
'''

RETURN = r'''
master:
  description: The master (C(host:port)) Sentinel named before anything was done.
  returned: always
  type: str
  sample: 10.0.0.11:6379
new_master:
  description: The master Sentinel names after the failover (the same as RV(master) when nothing was done or in check mode).
  returned: always
  type: str
  sample: 10.0.0.12:6379
reason:
  description: Why no failover was (or would be) made; empty when one was (or would be).
  returned: always
  type: str
  sample: the master is not on the host
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.module_utils import _redis

_DOWN = frozenset(['s_down', 'o_down', 'disconnected'])


def master_of(conn, name):
    """``(host:port, host, port, flags)`` of the master Sentinel monitors as ``name``."""
    master = resp.pairs_to_dict(conn.command('SENTINEL', 'MASTER', name))
    host, port = str(master.get('ip')), str(master.get('port'))
    return '%s:%s' % (host, port), host, port, str(master.get('flags', ''))


def healthy_replicas(conn, name):
    """Replicas Sentinel would promote: not flagged down or disconnected, link to the master ok."""
    replicas = [resp.pairs_to_dict(r) for r in conn.command('SENTINEL', 'REPLICAS', name) or []]
    return [r for r in replicas
            if not set(str(r.get('flags', '')).split(',')) & _DOWN and str(r.get('master-link-status', 'ok')) == 'ok']


def on_host(host, port, away_from):
    for entry in away_from:
        if entry == host or entry == '%s:%s' % (host, port):
            return True
    return False


def run_module(connect=_redis.connect, sleep=None, clock=None):
    # Looked up at call time, so a test can replace the module's clock.
    sleep, clock = sleep or time.sleep, clock or time.time
    spec = dict(
        master_name=dict(type='str', required=True),
        away_from=dict(type='list', elements='str', required=True),
        timeout=dict(type='int', default=120),
    )
    spec.update(_redis.connection_argument_spec())
    spec['login_port']['default'] = 26379
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name = module.params['master_name']
    where = 'Sentinel %s:%s' % (module.params['login_host'], module.params['login_port'])
    result = dict(changed=False, master='', new_master='', reason='')
    try:
        conn = connect(module.params)
    except Exception as exc:
        module.fail_json(msg='cannot reach %s: %s' % (where, exc), **result)
    with conn:
        try:
            addr, host, port, dummy = master_of(conn, name)
            result.update(master=addr, new_master=addr)
            if not on_host(host, port, module.params['away_from']):
                result['reason'] = 'the master is not on %s' % ', '.join(module.params['away_from'])
                module.exit_json(**result)
            if not healthy_replicas(conn, name):
                result['reason'] = 'the master has no healthy replica to hand over to'
                module.exit_json(**result)
            result['changed'] = True
            if module._diff:
                result['diff'] = dict(before=dict(master=addr), after=dict(master='a healthy replica of %s' % addr))
            if module.check_mode:
                module.exit_json(**result)
            reply = conn.command('SENTINEL', 'FAILOVER', name)
            if str(reply) != 'OK':
                module.fail_json(msg='%s, master %s (%s): SENTINEL FAILOVER answered %s' % (where, name, addr, reply), **result)
            deadline = clock() + module.params['timeout']
            while True:
                now_addr, dummy, dummy, flags = master_of(conn, name)
                if now_addr != addr and flags == 'master':
                    break
                if clock() >= deadline:
                    module.fail_json(msg='%s: the failover of master %s (%s) did not finish within %ss (Sentinel names %s, flags %s)'
                                     % (where, name, addr, module.params['timeout'], now_addr, flags), **result)
                sleep(1)
            result['new_master'] = now_addr
            if module._diff:
                result['diff'] = dict(before=dict(master=addr), after=dict(master=now_addr))
        except (resp.RespError, resp.RespProtocolError, OSError) as exc:
            module.fail_json(msg='%s, master %s: %s' % (where, name, exc), **result)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == '__main__':
    main()
