#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_info
short_description: Read the replication role, INFO sections and Sentinel's masters of a Redis instance or Sentinel
version_added: 0.3.0
description:
  - Asks C(ROLE) and returns it parsed (master, replica with the master it follows, or Sentinel).
  - With I(sections), asks C(INFO) of those sections and returns its fields as strings.
  - With I(master_names), against a Sentinel, asks C(SENTINEL GET-MASTER-ADDR-BY-NAME) for each name.
  - Read-only, never changes anything. Talks RESP directly (no redis-cli), so no password reaches a command line.
  - With I(missing_ok), an instance that refuses connections (nothing runs yet, the first run) is an
    answer (RV(reachable) false) instead of a failure; a wrong password still fails.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  sections:
    description:
      - C(INFO) sections to read (C(replication), C(persistence), C(all)...). Empty asks no C(INFO).
    type: list
    elements: str
    default: []
  master_names:
    description:
      - Against a Sentinel, the master names to look up with C(SENTINEL GET-MASTER-ADDR-BY-NAME).
    type: list
    elements: str
    default: []
  missing_ok:
    description:
      - When the server refuses the connection, return at once with RV(reachable) false instead of
        failing (and without waiting I(wait) seconds). Authentication errors and other errors still fail.
    type: bool
    default: false
  login_port:
    description: Port of the instance or Sentinel.
    type: int
    default: 6379
  wait:
    description:
      - Seconds to keep retrying while the server refuses connections (unless I(missing_ok)) or
        answers C(LOADING).
    type: int
    default: 30
extends_documentation_fragment:
  - flash.connect.redis
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Reads only; nothing to show.
  idempotent:
    support: full
    description: Never changes anything.
'''

EXAMPLES = r'''
- name: Replication role and persistence of an instance (nothing running yet is an answer)
  flash.connect.redis_info:
    login_port: 6379
    login_user: flash-admin
    login_password: "{{ redis_admin_passwords | first }}"
    sections: [persistence, replication]
    missing_ok: true
  register: __redis_state
  no_log: true

- name: Where the local Sentinel says each master is
  flash.connect.redis_info:
    login_port: 26379
    login_password: "{{ redis_sentinel_requirepass }}"
    master_names: [flash-session, flash-cache]
    missing_ok: true
  register: __redis_sentinel_view
  no_log: true
'''

RETURN = r'''
reachable:
  description: Whether the server answered (false only with I(missing_ok) when it refused the connection).
  returned: always
  type: bool
  sample: true
role:
  description:
    - C(ROLE), parsed. C(role) is C(master), C(slave) or C(sentinel).
    - A master lists its C(replicas) (C(host), C(port), C(offset)); a replica has C(master_host),
      C(master_port) and C(link) (C(connect), C(connecting), C(sync), C(connected)); a Sentinel
      lists the C(masters) it monitors. Empty when not reachable.
  returned: always
  type: dict
  sample: {role: slave, master_host: 10.0.0.11, master_port: 6379, link: connected, offset: 1234}
info:
  description: The fields of C(INFO) of I(sections), values as strings. Empty without I(sections) or when not reachable.
  returned: always
  type: dict
  sample: {role: master, connected_slaves: "2", loading: "0", rdb_bgsave_in_progress: "0"}
masters:
  description:
    - For each of I(master_names), the address the Sentinel gives (C(host), C(port) as a string), or
      null when it does not know the name. Empty when not reachable.
  returned: always
  type: dict
  sample: {flash-session: {host: 10.0.0.11, port: "6379"}, flash-cache: null}
'''

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.module_utils import _redis


class Refused(Exception):
    """Raised through _redis.connect (not an OSError, so not retried) when the server refuses."""


def refusing_create_connection(address, timeout):
    """socket.create_connection, but a refused connection escapes connect()'s retry loop."""
    try:
        return socket.create_connection(address, timeout)
    except ConnectionRefusedError as exc:
        raise Refused(str(exc))


def parse_role(reply):
    """The reply of ROLE as a dict (see RETURN)."""
    if not isinstance(reply, list) or not reply:
        raise resp.RespProtocolError('unexpected ROLE reply: %r' % (reply,))
    kind = str(reply[0])
    if kind == 'master':
        replicas = [dict(host=str(r[0]), port=int(r[1]), offset=int(r[2])) for r in (reply[2] if len(reply) > 2 else []) or []]
        return dict(role=kind, offset=int(reply[1]), replicas=replicas)
    if kind == 'slave':
        return dict(role=kind, master_host=str(reply[1]), master_port=int(reply[2]), link=str(reply[3]), offset=int(reply[4]))
    if kind == 'sentinel':
        return dict(role=kind, masters=[str(m) for m in (reply[1] if len(reply) > 1 else []) or []])
    return dict(role=kind)


def read(conn, sections, master_names):
    """ROLE, INFO of ``sections`` and Sentinel's address of each of ``master_names``."""
    result = dict(role=parse_role(conn.command('ROLE')), info={}, masters={})
    if sections:
        result['info'] = resp.parse_info(conn.command('INFO', *sections))
    for name in master_names:
        addr = conn.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)
        result['masters'][name] = dict(host=str(addr[0]), port=str(addr[1])) if addr else None
    return result


def run_module(connect=_redis.connect):
    spec = dict(
        sections=dict(type='list', elements='str', default=[]),
        master_names=dict(type='list', elements='str', default=[]),
        missing_ok=dict(type='bool', default=False),
    )
    spec.update(_redis.connection_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    where = '%s:%s' % (module.params['login_host'], module.params['login_port'])
    result = dict(changed=False, reachable=False, role={}, info={}, masters={})
    try:
        if module.params['missing_ok']:
            conn = connect(module.params, create_connection=refusing_create_connection)
        else:
            conn = connect(module.params)
    except Refused:
        module.exit_json(**result)
    except Exception as exc:
        module.fail_json(msg='cannot reach %s: %s' % (where, exc), **result)
    with conn:
        try:
            result.update(read(conn, module.params['sections'], module.params['master_names']))
        except (resp.RespError, resp.RespProtocolError, OSError, ValueError, TypeError, IndexError) as exc:
            module.fail_json(msg='%s: %s' % (where, exc), **result)
    result['reachable'] = True
    module.exit_json(**result)


def main():
    run_module()


if __name__ == '__main__':
    main()
