#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: rabbitmq_cluster
short_description: Join a RabbitMQ node to the cluster of a seed node, only when needed
version_added: 0.1.0
description:
  - Reads the membership of the local node and of the seed node with
    C(rabbitmqctl cluster_status --formatter json) and joins the local node to the seed's
    cluster (C(stop_app), C(join_cluster), C(start_app)) only when it is not a member yet.
  - C(join_cluster) resets the joining node. The module never lets that happen to a node
    that would lose something - it fails, saying why, when the node already belongs to
    another cluster, or when it is on its own but holds vhosts besides C(/) or queues.
  - A node rebuilt blank under the name of a former member is still listed by the seed's
    cluster. The module makes the seed forget that stale member before joining, then adds
    the node back to the quorum queues (C(rabbitmq-queues grow)).
  - Runs on the node to join; the seed is reached over Erlang distribution, so the Erlang
    cookie must be the same on both.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  seed:
    description:
      - Node name of a member of the cluster to join, for example C(rabbit@rmq-1).
      - When it is the local node, there is nothing to do.
    type: str
    required: true
  node:
    description:
      - Node name of the local node.
      - Defaults to C(rabbit@) followed by the short host name, the default RabbitMQ uses.
    type: str
  node_type:
    description:
      - Join as a disc node or a RAM node.
    type: str
    choices: [disc, ram]
    default: disc
  grow_quorum_queues:
    description:
      - After a join, add the node as a member of every quorum queue
        (C(rabbitmq-queues grow NODE all)), so a rebuilt node carries replicas again.
    type: bool
    default: true
  timeout:
    description:
      - Seconds each rabbitmqctl call may take.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Reads the state and reports the join it would make without making it.
  diff_mode:
    support: full
    description: Shows the membership of the local node before and after.
  idempotent:
    support: full
    description: A node already in the seed's cluster is left alone.
notes:
  - Needs C(rabbitmqctl) (and C(rabbitmq-queues) for I(grow_quorum_queues)) on the node.
  - Node type is only applied when joining; an existing member is not converted.
seealso:
  - name: RabbitMQ clustering guide
    description: Joining, resetting and forgetting nodes.
    link: https://www.rabbitmq.com/clustering.html
'''

EXAMPLES = r'''
- name: Join this node to the cluster of the first node
  flash.connect.rabbitmq_cluster:
    seed: "rabbit@{{ groups['rabbitmq'][0] }}"
    node: "rabbit@{{ inventory_hostname }}"

- name: Report what would happen
  flash.connect.rabbitmq_cluster:
    seed: rabbit@rmq-1
  check_mode: true
  diff: true
  register: join_plan
'''

RETURN = r'''
node:
  description: The local node name.
  returned: always
  type: str
  sample: rabbit@rmq-2
seed:
  description: The seed node name.
  returned: always
  type: str
  sample: rabbit@rmq-1
members:
  description: Members (disc and RAM nodes) of the local node's cluster after the run (the planned membership in check mode).
  returned: success
  type: list
  elements: str
  sample: [rabbit@rmq-1, rabbit@rmq-2, rabbit@rmq-3]
running_nodes:
  description: Running members seen by the local node after the run.
  returned: success
  type: list
  elements: str
  sample: [rabbit@rmq-1, rabbit@rmq-2, rabbit@rmq-3]
forgot_stale_member:
  description: Whether the seed's cluster had to forget a previous incarnation of this node.
  returned: success
  type: bool
  sample: false
commands:
  description: The commands run (or, in check mode, that would run) to change the cluster.
  returned: success
  type: list
  elements: str
  sample: ["rabbitmqctl -n rabbit@rmq-2 stop_app", "rabbitmqctl -n rabbit@rmq-2 join_cluster rabbit@rmq-1"]
diff:
  description: Membership before and after.
  returned: changed and diff mode
  type: dict
  sample: {"before": {"members": ["rabbit@rmq-2"]}, "after": {"members": ["rabbit@rmq-1", "rabbit@rmq-2"]}}
'''

import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flash.connect.plugins.module_utils._rabbitmq import (
    RabbitmqCtl,
    RabbitmqCtlError,
    members,
    running,
)


def default_node_name():
    return 'rabbit@' + socket.gethostname().split('.')[0]


def join(module, ctl, node, seed, stale):
    """Stop, (forget the stale member on the seed,) join, start. Leaves the node running on failure."""
    join_args = ['join_cluster'] + (['--ram'] if module.params['node_type'] == 'ram' else []) + [seed]
    ctl.run(node, ['stop_app'])
    try:
        if stale:
            ctl.run(seed, ['forget_cluster_node', node])
        ctl.run(node, join_args)
    finally:
        # Whatever happened, do not leave the node with its app stopped.
        ctl.run(node, ['start_app'], check=False)
    ctl.run(node, ['await_startup'])
    if module.params['grow_quorum_queues'] and ctl.queues:
        ctl.run(node, ['grow', node, 'all'], binary=ctl.queues)


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            seed=dict(type='str', required=True),
            node=dict(type='str'),
            node_type=dict(type='str', default='disc', choices=['disc', 'ram']),
            grow_quorum_queues=dict(type='bool', default=True),
            timeout=dict(type='int', default=120),
        ),
        supports_check_mode=True,
    )
    seed = module.params['seed']
    node = module.params['node'] or default_node_name()
    result = dict(changed=False, node=node, seed=seed, forgot_stale_member=False, commands=[])

    for name, value in (('seed', seed), ('node', node)):
        if '@' not in value:
            module.fail_json(msg='%s=%s is not a node name such as rabbit@host' % (name, value), **result)

    ctl = RabbitmqCtl(module, timeout=module.params['timeout'])
    try:
        local = ctl.cluster_status(node)
    except RabbitmqCtlError as e:
        module.fail_json(msg='cannot read the cluster status of %s (is it running?): %s' % (node, e.msg), **result)
    before = members(local)
    result.update(members=before, running_nodes=running(local))

    if node == seed or seed in before:
        module.exit_json(**result)

    try:
        remote = ctl.cluster_status(seed)
    except RabbitmqCtlError as e:
        module.fail_json(msg='cannot reach the seed %s from %s (same Erlang cookie? name resolves?): %s'
                         % (seed, node, e.msg), **result)
    seed_members = members(remote)

    others = [n for n in before if n != node]
    if others:
        module.fail_json(
            msg='refusing to reset %s: it belongs to another cluster (%s) that does not include the seed %s. '
                'Joining would wipe its data. Take it out of that cluster deliberately first '
                '(rabbitmqctl forget_cluster_node on that cluster, then reset it).'
                % (node, ', '.join(before), seed), **result)

    try:
        data = ctl.data_summary(node)
    except RabbitmqCtlError as e:
        module.fail_json(msg='refusing to reset %s: cannot tell whether it holds data: %s' % (node, e.msg), **result)
    if data['vhosts'] or data['queues']:
        described = ['vhosts: %s' % ', '.join(data['vhosts'])] if data['vhosts'] else []
        if data['queues']:
            listed = ['%s/%s (%s messages)' % (q['vhost'], q['name'], q['messages']) for q in data['queues'][:10]]
            described.append('queues: %s' % ', '.join(listed))
        module.fail_json(
            msg='refusing to reset %s to join %s: it is a standalone node holding data (%s). '
                'Export what you need and reset it deliberately first.' % (node, seed, '; '.join(described)),
            data=data, **result)

    stale = node in seed_members
    after = sorted(set(seed_members) | set([node]))
    commands = ['rabbitmqctl -n %s stop_app' % node]
    if stale:
        commands.append('rabbitmqctl -n %s forget_cluster_node %s' % (seed, node))
    commands.append('rabbitmqctl -n %s join_cluster %s%s' % (node, '--ram ' if module.params['node_type'] == 'ram' else '', seed))
    commands.append('rabbitmqctl -n %s start_app' % node)
    if module.params['grow_quorum_queues']:
        commands.append('rabbitmq-queues -n %s grow %s all' % (node, node))
    result.update(changed=True, forgot_stale_member=stale, commands=commands, members=after)
    if module._diff:
        result['diff'] = dict(before=dict(members=before), after=dict(members=after))

    if module.check_mode:
        module.exit_json(**result)

    try:
        join(module, ctl, node, seed, stale)
        final = ctl.cluster_status(node)
    except RabbitmqCtlError as e:
        module.fail_json(msg='joining %s to %s failed: %s' % (node, seed, e.msg), rc=e.rc,
                         stdout=e.stdout, stderr=e.stderr, **result)
    result.update(members=members(final), running_nodes=running(final))
    if seed not in result['members']:
        module.fail_json(msg='%s ran join_cluster %s but its cluster is %s' % (node, seed, result['members']), **result)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == '__main__':
    main()
