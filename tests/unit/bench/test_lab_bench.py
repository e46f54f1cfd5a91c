# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab benchmark reads what Ansible printed: a rerun that changed a host is not a no-op."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.flash.connect.tests.bench import lab_bench
from ansible_collections.flash.connect.tests.bench.verdict import Target

OUTPUT = """
PLAY RECAP *********************************************************************
lab-app-1                  : ok=122  changed=0    unreachable=0    failed=0    skipped=18   rescued=0    ignored=0
lab-rmq-1                  : ok=75   changed=%(changed)d    unreachable=0    failed=0    skipped=9    rescued=0    ignored=0
localhost                  : ok=25   changed=2    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0

ROLES RECAP ********************************************************************
Tuesday 01 December 2026  05:43:37 +0000 (0:00:00.036)       0:02:27.532 ******
===============================================================================
rabbitmq --------------------------------------------------------------- 42.75s
community.docker.docker_container_info ---------------------------------- 3.18s
"""


def test_a_converged_rerun_is_a_no_op_whatever_the_controller_rewrote():
    hosts = lab_bench.recap(OUTPUT % {'changed': 0})
    assert hosts['lab-rmq-1'] == {'ok': 75, 'changed': 0, 'unreachable': 0, 'failed': 0, 'skipped': 9, 'rescued': 0, 'ignored': 0}
    assert lab_bench.no_op_problems(hosts) == []


def test_a_rerun_that_changed_a_lab_host_is_named():
    assert lab_bench.no_op_problems(lab_bench.recap(OUTPUT % {'changed': 3})) == ['lab-rmq-1: changed=3']


def test_no_recap_is_a_problem_not_a_pass():
    assert lab_bench.no_op_problems(lab_bench.recap('ERROR! the playbook could not be parsed')) == ['no PLAY RECAP in the output']


def test_role_seconds_come_from_the_roles_recap_only():
    assert lab_bench.role_seconds(OUTPUT % {'changed': 0}) == {
        'rabbitmq': 42.75, 'community.docker.docker_container_info': 3.18}


def test_the_report_gives_medians_ratios_and_the_verdict():
    ctx = {'command': 'lab_bench.py --runs 3', 'date': 'd', 'platform': 'p', 'cores': 2, 'load_before': '1',
           'load_after': '2', 'roles': {'mitogen': {'redis': [5.0, 6.0, 7.0]}, 'ansible': {'redis': [10.0, 11.0, 30.0]}}}
    reruns = {'mitogen': [70.0, 80.0, 200.0], 'ansible': [150.0, 140.0, 160.0]}
    text, result = lab_bench.report(ctx, [300.0], reruns, [Target('median no-op rerun', 80.0, '<=', 90.0, 's')])
    assert '| median no-op rerun, mitogen (s) | 80.0 |' in text
    assert '| no-op rerun / build, mitogen | 27 % |' in text
    assert '| mitogen / ansible, no-op rerun | 0.53 |' in text
    assert '| redis | 11.0 | 6.0 |' in text
    assert result['met'] and 'Verdict in this run: **met**' in text
    dummy, missed = lab_bench.report(ctx, [300.0], reruns, [Target('median no-op rerun', 95.0, '<=', 90.0, 's')])
    assert not missed['met']
