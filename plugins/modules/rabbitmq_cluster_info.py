#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: rabbitmq_cluster_info
short_description: Read a RabbitMQ node's view of its cluster, optionally waiting for the expected running nodes
version_added: "0.2.0"
description:
  - Reads C(rabbitmqctl cluster_status --formatter json) on the local node and returns its members
    and running nodes as lists, so a role compares data instead of parsing command output.
  - With I(wait_for_running), polls until the running nodes are exactly that set, or fails after
    I(wait_timeout) seconds naming the missing and unexpected nodes.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  node:
    description: Node name of the local node; defaults to C(rabbit@) and the short host name.
    type: str
  wait_for_running:
    description: Node names that must all be running (and no other); empty reads once.
    type: list
    elements: str
    default: []
  wait_timeout:
    description: Seconds to wait for I(wait_for_running).
    type: int
    default: 120
  timeout:
    description: Seconds each rabbitmqctl call may take.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Reads only; nothing to show.
  idempotent:
    support: full
    description: Never changes anything.
'''

EXAMPLES = r'''
- name: Read the node's view of the cluster
  flash.connect.rabbitmq_cluster_info:
  register: view

- name: Wait until every node of the group is running
  flash.connect.rabbitmq_cluster_info:
    wait_for_running: [rabbit@rmq-1, rabbit@rmq-2, rabbit@rmq-3]
    wait_timeout: 180
'''

RETURN = r'''
node:
  description: The local node name.
  returned: always
  type: str
  sample: rabbit@rmq-1
members:
  description: Disc and RAM members of the node's cluster.
  returned: success
  type: list
  elements: str
  sample: [rabbit@rmq-1, rabbit@rmq-2, rabbit@rmq-3]
running_nodes:
  description: Members the node sees running.
  returned: success
  type: list
  elements: str
  sample: [rabbit@rmq-1, rabbit@rmq-2, rabbit@rmq-3]
partitions:
  description: Network partitions the node reports (node -> nodes it cannot see).
  returned: success
  type: dict
  sample: {}
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flash.connect.plugins.module_utils._rabbitmq import (
    RabbitmqCtl,
    RabbitmqCtlError,
    members,
    running,
)


def default_node_name():
    import socket
    return 'rabbit@' + socket.gethostname().split('.')[0]


def read(ctl, node):
    status = ctl.cluster_status(node)
    partitions = status.get('partitions') or {}
    return dict(members=members(status), running_nodes=running(status),
                partitions=partitions if isinstance(partitions, dict) else {})


def main():
    module = AnsibleModule(
        argument_spec=dict(
            node=dict(type='str'),
            wait_for_running=dict(type='list', elements='str', default=[]),
            wait_timeout=dict(type='int', default=120),
            timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    node = module.params['node'] or default_node_name()
    want = sorted(set(module.params['wait_for_running']))
    ctl = RabbitmqCtl(module, timeout=module.params['timeout'])
    deadline = time.monotonic() + module.params['wait_timeout']
    last_error, view = None, None
    while True:
        try:
            view = read(ctl, node)
            last_error = None
        except RabbitmqCtlError as e:
            last_error = e.msg
        if view is not None and last_error is None and (not want or view['running_nodes'] == want):
            module.exit_json(changed=False, node=node, **view)
        if not want or time.monotonic() >= deadline:
            break
        time.sleep(3)
    if last_error is not None:
        module.fail_json(msg='cannot read the cluster status of %s: %s' % (node, last_error), node=node)
    module.fail_json(
        msg='%s does not see exactly the expected running nodes after %ss: missing %s, unexpected %s'
            % (node, module.params['wait_timeout'],
               ', '.join(sorted(set(want) - set(view['running_nodes']))) or 'none',
               ', '.join(sorted(set(view['running_nodes']) - set(want))) or 'none'),
        node=node, **view)


if __name__ == '__main__':
    main()
