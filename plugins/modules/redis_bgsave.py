#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_bgsave
short_description: Write a fresh RDB snapshot of a Redis instance (BGSAVE SCHEDULE) and wait until it is on disk
version_added: 0.3.0
description:
  - Reads the time of the last snapshot (C(LASTSAVE)), starts a background save (C(BGSAVE SCHEDULE),
    scheduled after an AOF rewrite in progress rather than refused), then asks C(INFO persistence)
    every second until no save is in progress and C(rdb_last_save_time) is newer than before.
  - Fails naming the instance when the save ends with C(rdb_last_bgsave_status) not C(ok), or does
    not end within I(timeout) seconds.
  - Talks RESP directly (no redis-cli), so the password never reaches a command line.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  instance_name:
    description: Name of the instance, shown beside its address in the failure messages.
    type: str
  timeout:
    description: Seconds to wait for the snapshot.
    type: int
    default: 300
  login_port:
    description: Port of the instance.
    type: int
    default: 6379
  wait:
    description: Seconds to keep retrying while the instance refuses connections or answers C(LOADING).
    type: int
    default: 30
extends_documentation_fragment:
  - flash.connect.redis
attributes:
  check_mode:
    support: full
    description: Reads C(LASTSAVE) and reports changed; starts no save.
  diff_mode:
    support: none
    description: A snapshot has no before and after to show.
  idempotent:
    support: none
    description: Every run writes a new snapshot.
'''

EXAMPLES = r'''
- name: Fresh snapshot of the session instance
  flash.connect.redis_bgsave:
    instance_name: session
    login_port: 6379
    login_user: flash-admin
    login_password: "{{ redis_admin_passwords | first }}"
    timeout: 300
  register: __redis_snapshot
  no_log: true
'''

RETURN = r'''
previous_save_time:
  description: C(LASTSAVE) before the save (UNIX time).
  returned: always
  type: int
  sample: 1764500000
last_save_time:
  description: Time of the new snapshot (UNIX time); in check mode the one before.
  returned: always
  type: int
  sample: 1764500042
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.module_utils import _redis


def persistence(conn):
    return resp.parse_info(conn.command('INFO', 'persistence'))


def run_module(connect=_redis.connect, sleep=None, clock=None):
    # Looked up at call time, so a test can replace the module's clock.
    sleep, clock = sleep or time.sleep, clock or time.time
    spec = dict(instance_name=dict(type='str'), timeout=dict(type='int', default=300))
    spec.update(_redis.connection_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    where = 'instance %s:%s' % (module.params['login_host'], module.params['login_port'])
    if module.params['instance_name']:
        where = 'instance %s (%s:%s)' % (module.params['instance_name'], module.params['login_host'], module.params['login_port'])
    result = dict(changed=False, previous_save_time=0, last_save_time=0)
    try:
        conn = connect(module.params)
    except Exception as exc:
        module.fail_json(msg='cannot reach %s: %s' % (where, exc), **result)
    with conn:
        try:
            before = int(conn.command('LASTSAVE'))
            result.update(changed=True, previous_save_time=before, last_save_time=before)
            if module.check_mode:
                module.exit_json(**result)
            reply = str(conn.command('BGSAVE', 'SCHEDULE'))
            if not reply.startswith(('Background saving started', 'Background saving scheduled')):
                module.fail_json(msg='%s: BGSAVE SCHEDULE answered %s' % (where, reply), **result)
            deadline = clock() + module.params['timeout']
            seen_running = False
            while True:
                fields = persistence(conn)
                running = fields.get('rdb_bgsave_in_progress') != '0'
                seen_running = seen_running or running
                last = int(fields.get('rdb_last_save_time') or 0)
                if not running and last > before:
                    break
                if not running and seen_running and fields.get('rdb_last_bgsave_status') != 'ok':
                    # A failed save leaves LASTSAVE where it was: no need to wait for the timeout.
                    break
                if clock() >= deadline:
                    module.fail_json(msg='%s: no snapshot newer than %s within %ss (rdb_bgsave_in_progress:%s)'
                                     % (where, before, module.params['timeout'], fields.get('rdb_bgsave_in_progress')), **result)
                sleep(1)
            if fields.get('rdb_last_bgsave_status') != 'ok':
                module.fail_json(msg='BGSAVE of %s failed (rdb_last_bgsave_status is %s)' % (where, fields.get('rdb_last_bgsave_status')),
                                 **result)
            result['last_save_time'] = last
        except (resp.RespError, resp.RespProtocolError, OSError, ValueError, TypeError) as exc:
            module.fail_json(msg='%s: %s' % (where, exc), **result)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == '__main__':
    main()
