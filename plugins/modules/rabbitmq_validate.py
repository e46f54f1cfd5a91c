#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: rabbitmq_validate
short_description: Check RabbitMQ role values against the grammar of the file or API they reach
version_added: "0.2.0"
description:
  - Read-only preflight for the rabbitmq role. Each value is checked against the grammar of the
    place it is written to (C(rabbitmq.conf), the shell-sourced C(rabbitmq-env.conf), a node name,
    a policy pattern), and each policy pattern must compile and match at least one declared queue
    of its vhost.
  - Fails with one message naming every offending variable; changes nothing on the host.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  values:
    description:
      - Values to check, each C({var, value, grammar}).
      - C(grammar) is one of C(conf) (a C(rabbitmq.conf) value - one line, no C(#), no quote,
        no leading or trailing blank), C(env) (inside double quotes in a shell-sourced file - no
        newline, C("), C(\\), C($) or backquote), C(node) (C(name@host), letters, digits, C(_.-)),
        C(name) (a vhost, user, queue or exchange name - printable, no newline).
    type: list
    elements: dict
    default: []
  policies:
    description:
      - Policies to check, each C({var, name, vhost, pattern, apply_to}). C(var) is the variable the
        policy comes from, named in the failure.
    type: list
    elements: dict
    default: []
  queues:
    description: Declared queues, each C({vhost, name}); every queue policy must match one of them.
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything.
notes:
  - Patterns are compiled with Python's C(re); RabbitMQ uses Erlang's PCRE-based C(re). A pattern
    Python refuses (C(\([)) is refused by both; the few PCRE-only constructs are not supported.
'''

EXAMPLES = r'''
- name: Check the values and policy patterns before anything changes
  flash.connect.rabbitmq_validate:
    values:
      - {var: rabbitmq_node_name, value: "rabbit@node1", grammar: node}
      - {var: rabbitmq_server_additional_erl_args, value: "+S 1:1", grammar: env}
    policies:
      - {var: rabbitmq_app_policies, name: app.events, vhost: flash, pattern: "^events:.*", apply_to: queues}
    queues:
      - {vhost: flash, name: "events:message.sent"}
'''

RETURN = r'''
errors:
  description: One line per refused value, naming its variable (empty when all pass).
  returned: always
  type: list
  elements: str
  sample: ["rabbitmq_app_policies (app.events): pattern '([' is not a valid regular expression"]
matches:
  description: For each policy C(vhost/name), the declared queues its pattern matches.
  returned: always
  type: dict
  sample: {"flash/app.events": ["events:message.sent"]}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.flash.connect.plugins.module_utils._rabbitmq import (
    check_grammar, check_policies)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            values=dict(type='list', elements='dict', default=[]),
            policies=dict(type='list', elements='dict', default=[]),
            queues=dict(type='list', elements='dict', default=[]),
        ),
        supports_check_mode=True,
    )
    errors = []
    for item in module.params['values']:
        problem = check_grammar(item.get('value'), item.get('grammar', 'name'))
        if problem:
            errors.append('%s: %s' % (item.get('var', '?'), problem))
    policy_errors, matches = check_policies(module.params['policies'], module.params['queues'])
    errors.extend(policy_errors)
    if errors:
        module.fail_json(msg='; '.join(errors), errors=errors, matches=matches)
    module.exit_json(changed=False, errors=[], matches=matches)


if __name__ == '__main__':
    main()
