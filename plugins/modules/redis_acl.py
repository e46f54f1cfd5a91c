#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_acl
short_description: Make a running Redis instance's ACL users what they should be, touching only those that differ
version_added: 0.2.0
description:
  - Reads every listed user with C(ACL GETUSER) and changes only the users whose state (on/off,
    password hashes, command, key and channel rules) differs, each with one atomic
    C(ACL SETUSER name reset ...), then writes the ACL file with C(ACL SAVE).
  - Never runs C(ACL LOAD), which in Redis 7.0 drops every authenticated client; a connection of
    a user that did not change keeps working.
  - Rules are compared in Redis's own form - the wanted rules are applied to a scratch user that
    stays C(off) and has no password, read back and deleted - so any spelling Redis accepts
    compares right. The scratch user exists for the moment of the read, in check mode too.
  - With I(purge), users that are not listed (except C(default) and the login user) are deleted
    with C(ACL DELUSER), which disconnects their clients.
  - Password values never appear in the result or the diff; the diff shows password counts.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  users:
    description: The users and what each must be.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: User name (C(default) is Redis's user for password-only C(AUTH)).
        type: str
        required: true
      enabled:
        description: Whether the user is C(on).
        type: bool
        default: true
      passwords:
        description: Plain-text passwords; the user accepts each of them (and no other).
        type: list
        elements: str
        default: []
      rules:
        description: Command, key and channel rules in C(ACL SETUSER) syntax, e.g. C(~* &* +@all -@dangerous).
        type: str
        default: ''
  purge:
    description: Delete users that are not listed (never C(default) nor I(login_user)).
    type: bool
    default: false
  save:
    description: Run C(ACL SAVE) after a change, so the instance keeps it across restarts (needs C(aclfile)).
    type: bool
    default: true
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
    description: Reads run (including the scratch user used to compare rules); C(ACL SETUSER) of real users, C(ACL DELUSER) and C(ACL SAVE) do not.
  diff_mode:
    support: full
    description: Per changed user, flags, rules and the number of passwords before and after.
  idempotent:
    support: full
    description: A second run with the same options changes nothing.
'''

EXAMPLES = r'''
- name: The app's rules on the default user, the admin user, nothing else
  flash.connect.redis_acl:
    login_user: flash-admin
    login_password: "{{ redis_admin_passwords | first }}"
    users:
      - name: default
        passwords: "{{ redis_app_passwords }}"
        rules: "~* &* +@all -@dangerous"
      - name: flash-admin
        passwords: "{{ redis_admin_passwords }}"
        rules: "~* &* +@all"
    purge: true
'''

RETURN = r'''
changed_users:
  description: Users that were (or in check mode would be) set.
  returned: always
  type: list
  elements: str
  sample: [default]
deleted_users:
  description: Users that were (or in check mode would be) deleted (I(purge)).
  returned: always
  type: list
  elements: str
  sample: [flash-app]
saved:
  description: Whether C(ACL SAVE) ran.
  returned: always
  type: bool
  sample: true
'''

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.module_utils import _redis


def _flat(value):
    """A GETUSER field as one string (Redis 7.0 gives strings, older versions lists)."""
    if value is None:
        return ''
    if isinstance(value, list):
        return ' '.join(str(v) for v in value)
    return str(value)


def state_of(reply):
    """The comparable state of a user from its ACL GETUSER reply (None: no such user)."""
    if reply is None:
        return None
    fields = resp.pairs_to_dict(reply)
    flags = set(fields.get('flags') or [])
    return dict(
        enabled='on' in flags,
        nopass='nopass' in flags,
        passwords=sorted(fields.get('passwords') or []),
        commands=_flat(fields.get('commands')),
        keys=_flat(fields.get('keys')),
        channels=_flat(fields.get('channels')),
    )


def password_hash(password):
    return hashlib.sha256(to_bytes(password, errors='surrogate_or_strict')).hexdigest()


def wanted_state(user, canonical_rules):
    return dict(
        enabled=user['enabled'],
        nopass=False,
        passwords=sorted(set(password_hash(p) for p in user['passwords'])),
        commands=canonical_rules['commands'],
        keys=canonical_rules['keys'],
        channels=canonical_rules['channels'],
    )


def shown(state):
    """A user's state for the diff: no hashes, only how many passwords."""
    if state is None:
        return None
    out = dict(state)
    out['passwords'] = len(state['passwords'])
    return out


def setuser_args(user):
    """ACL SETUSER arguments that make the user exactly ``user`` in one atomic command."""
    args = ['reset', 'on' if user['enabled'] else 'off']
    args.extend('#' + password_hash(p) for p in user['passwords'])
    args.extend(user['rules'].split())
    return args


def run_module(connect=_redis.connect):
    spec = dict(
        users=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            enabled=dict(type='bool', default=True),
            passwords=dict(type='list', elements='str', default=[], no_log=True),
            rules=dict(type='str', default=''),
        )),
        purge=dict(type='bool', default=False),
        save=dict(type='bool', default=True),
    )
    spec.update(_redis.connection_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    users = module.params['users']
    names = [u['name'] for u in users]
    result = dict(changed=False, changed_users=[], deleted_users=[], saved=False)
    if len(set(names)) != len(names):
        module.fail_json(msg='users lists a name twice: %s' % ', '.join(sorted(set(n for n in names if names.count(n) > 1))), **result)
    try:
        conn = connect(module.params)
    except Exception as exc:
        module.fail_json(msg='cannot reach redis %s:%s: %s' % (module.params['login_host'], module.params['login_port'], exc), **result)
    scratch = 'flash-acl-compare-%d' % os.getpid()
    before, after = {}, {}
    with conn:
        try:
            todo = []
            try:
                for user in users:
                    # Redis's own form of the wanted rules, from a user that is off and has no password.
                    conn.command('ACL', 'SETUSER', scratch, 'reset', 'off', *user['rules'].split())
                    canonical = state_of(conn.command('ACL', 'GETUSER', scratch))
                    current = state_of(conn.command('ACL', 'GETUSER', user['name']))
                    wanted = wanted_state(user, canonical)
                    if current != wanted:
                        todo.append(user)
                        before[user['name']], after[user['name']] = shown(current), shown(wanted)
            except resp.RespError as exc:
                module.fail_json(msg='redis %s:%s refused the rules of user %s: %s'
                                 % (module.params['login_host'], module.params['login_port'], user['name'], exc), **result)
            finally:
                conn.command('ACL', 'DELUSER', scratch)
            stale = []
            if module.params['purge']:
                keep = set(names) | set(['default', module.params['login_user'] or 'default'])
                stale = sorted(n for n in conn.command('ACL', 'USERS') if n not in keep)
                for name in stale:
                    before[name], after[name] = shown(state_of(conn.command('ACL', 'GETUSER', name))), None
            result['changed_users'] = [u['name'] for u in todo]
            result['deleted_users'] = stale
            result['changed'] = bool(todo or stale)
            if module._diff:
                result['diff'] = dict(before=before, after=after)
            if result['changed'] and not module.check_mode:
                for user in todo:
                    conn.command('ACL', 'SETUSER', user['name'], *setuser_args(user))
                if stale:
                    conn.command('ACL', 'DELUSER', *stale)
                if module.params['save']:
                    conn.command('ACL', 'SAVE')
                    result['saved'] = True
        except resp.RespError as exc:
            module.fail_json(msg='redis %s:%s refused: %s' % (module.params['login_host'], module.params['login_port'], exc), **result)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == '__main__':
    main()
