#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_config
short_description: Set a running Redis instance's settings with CONFIG SET, only those that differ
version_added: 0.2.0
description:
  - Reads each setting with C(CONFIG GET), sets only the ones whose value differs with one
    C(CONFIG SET), then persists them with C(CONFIG REWRITE) into the main file Redis owns.
  - Values are compared as C(CONFIG GET) prints them (sizes in bytes, booleans as C(yes)/C(no)).
  - The values of I(secret_settings), C(masterauth) and C(requirepass) never appear in the result or the diff.
  - Talks RESP directly (no redis-cli, no redis-py), so the password never reaches a command
    line or an environment.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  settings:
    description:
      - Setting names and the values they must have, as C(CONFIG GET) prints them.
    type: dict
    default: {}
  secret_settings:
    description:
      - Like I(settings), for values that are secrets (C(masterauth), C(requirepass)); they are kept
        out of the logs and shown as C(<hidden>) in the diff.
    type: dict
    default: {}
  rewrite:
    description:
      - Run C(CONFIG REWRITE) after a change, so the instance keeps it across restarts.
    type: bool
    default: true
  login_port:
    description: Port of the instance.
    type: int
    default: 6379
  wait:
    description:
      - Seconds to keep retrying while the instance refuses connections or answers C(LOADING)
        (it was just started). A refused login is never retried.
    type: int
    default: 30
extends_documentation_fragment:
  - flash.connect.redis
attributes:
  check_mode:
    support: full
    description: Reads run; C(CONFIG SET) and C(CONFIG REWRITE) do not.
  diff_mode:
    support: full
    description: Before and after of the managed settings; secret values hidden.
  idempotent:
    support: full
    description: A second run with the same options changes nothing.
'''

EXAMPLES = r'''
- name: Memory and replication settings of the session instance
  flash.connect.redis_config:
    login_port: 6379
    login_user: flash-admin
    login_password: "{{ redis_admin_passwords | first }}"
    settings:
      maxmemory: "0"
      maxmemory-policy: noeviction
      masteruser: flash-replication
    secret_settings:
      masterauth: "{{ redis_replication_passwords | first }}"
'''

RETURN = r'''
changed_settings:
  description: Names of the settings that were (or in check mode would be) set.
  returned: always
  type: list
  elements: str
  sample: [maxmemory, masterauth]
rewritten:
  description: Whether C(CONFIG REWRITE) ran.
  returned: always
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.module_utils import _redis


def plan(current, wanted):
    """The settings of ``wanted`` whose value differs from ``current`` (missing counts as differing)."""
    return dict((k, v) for k, v in wanted.items() if current.get(k) != v)


def run_module(connect=_redis.connect):
    spec = dict(settings=dict(type='dict', default={}), secret_settings=dict(type='dict', default={}, no_log=True),
                rewrite=dict(type='bool', default=True))
    spec.update(_redis.connection_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    wanted = dict((to_text(k), to_text(v)) for k, v in module.params['settings'].items())
    secrets = set(_redis.SECRET_SETTINGS)
    for key, value in module.params['secret_settings'].items():
        wanted[to_text(key)] = to_text(value)
        secrets.add(to_text(key))
    result = dict(changed=False, changed_settings=[], rewritten=False)
    try:
        conn = connect(module.params)
    except Exception as exc:
        module.fail_json(msg='cannot reach redis %s:%s: %s' % (module.params['login_host'], module.params['login_port'], exc), **result)
    with conn:
        try:
            current = _redis.config_get(conn, sorted(wanted))
            unknown = sorted(set(wanted) - set(current))
            if unknown:
                module.fail_json(msg='this Redis has no setting named %s' % ', '.join(unknown), **result)
            todo = plan(current, wanted)
            result['changed_settings'] = sorted(todo)
            result['changed'] = bool(todo)
            if module._diff:
                result['diff'] = _redis.masked_diff(current, dict(current, **wanted), secrets)
            if todo and not module.check_mode:
                args = []
                for key in sorted(todo):
                    args.extend([key, todo[key]])
                conn.command('CONFIG', 'SET', *args)
                if module.params['rewrite']:
                    conn.command('CONFIG', 'REWRITE')
                    result['rewritten'] = True
        except resp.RespError as exc:
            # The reply names the setting, never its value.
            module.fail_json(msg='redis %s:%s refused: %s' % (module.params['login_host'], module.params['login_port'], exc), **result)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == '__main__':
    main()
