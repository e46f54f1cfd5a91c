# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

import pytest

_COLLECTIONS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.collections')
if os.path.isdir(_COLLECTIONS) and os.path.abspath(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, os.path.abspath(_COLLECTIONS))

from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.flash.connect.plugins.modules import rabbitmq_cluster_info  # noqa: E402
from ansible_collections.flash.connect.tests.unit.plugins.modules.harness import ExitJson, FailJson, patch_exits  # noqa: E402


N1, N2, N3 = 'rabbit@rmq-1', 'rabbit@rmq-2', 'rabbit@rmq-3'


def status(disk, running_nodes):
    # as rabbitmqctl 3.10 prints it: a banner line may come first
    return 'Cluster status of node\n' + json.dumps({
        'disk_nodes': disk, 'ram_nodes': [], 'running_nodes': running_nodes, 'partitions': {}})


@pytest.fixture
def run(monkeypatch):
    def _run(args, answers, check_mode=False):
        calls = []
        answers = list(answers)

        def run_command(self, cmd, **kw):
            calls.append(cmd)
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            return answer

        patch_exits(monkeypatch)
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                            lambda self, name, required=False, opt_dirs=None: '/usr/sbin/' + name)
        monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
        monkeypatch.setattr(rabbitmq_cluster_info.time, 'sleep', lambda s: None)
        full = dict(args)
        full['_ansible_check_mode'] = check_mode
        with patch_module_args(full):
            with pytest.raises((ExitJson, FailJson)) as caught:
                rabbitmq_cluster_info.main()
        return caught.type, caught.value.args[0], calls
    return _run


@pytest.mark.parametrize('check_mode', [False, True])
def test_reads_members_and_running_nodes_in_both_modes(run, check_mode):
    kind, res, calls = run({'node': N1}, [(0, status([N3, N1, N2], [N2, N1]), '')], check_mode=check_mode)
    assert kind is ExitJson
    assert res['changed'] is False
    assert res['members'] == [N1, N2, N3]
    assert res['running_nodes'] == [N1, N2]
    assert calls[0][:4] == ['/usr/sbin/rabbitmqctl', '-q', '-n', N1]
    assert 'cluster_status' in calls[0]


def test_waits_until_the_expected_nodes_run(run):
    answers = [(0, status([N1, N2, N3], [N1]), ''), (69, '', 'nodedown'), (0, status([N1, N2, N3], [N1, N2, N3]), '')]
    kind, res, calls = run({'node': N1, 'wait_for_running': [N3, N2, N1], 'wait_timeout': 60}, answers)
    assert kind is ExitJson
    assert res['running_nodes'] == [N1, N2, N3]
    assert len(calls) == 3


def test_fails_naming_missing_and_unexpected_nodes(run):
    kind, res, dummy = run({'node': N1, 'wait_for_running': [N1, N2], 'wait_timeout': 0},
                           [(0, status([N1, N3], [N1, N3]), '')])
    assert kind is FailJson
    assert 'missing rabbit@rmq-2' in res['msg']
    assert 'unexpected rabbit@rmq-3' in res['msg']


def test_fails_when_the_node_does_not_answer(run):
    kind, res, dummy = run({'node': N1}, [(69, '', 'Error: unable to perform an operation on node')])
    assert kind is FailJson
    assert 'cannot read the cluster status of rabbit@rmq-1' in res['msg']
