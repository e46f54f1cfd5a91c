# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.flash.connect.tests.lab import recap

OUTPUT = """
TASK [flash.connect.redis : Start Sentinel] ************************************
ok: [lab-redis-1]

PLAY RECAP *********************************************************************
lab-proxy-1                : ok=40   changed=0    unreachable=0    failed=0    skipped=12   rescued=0    ignored=0
lab-redis-1                : ok=51   changed=2    unreachable=0    failed=1    skipped=9    rescued=1    ignored=0
localhost                  : ok=3    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_every_counter_of_every_host_is_read():
    hosts = recap.recap(OUTPUT)
    assert sorted(hosts) == ['lab-proxy-1', 'lab-redis-1', 'localhost']
    assert hosts['lab-redis-1'] == {'ok': 51, 'changed': 2, 'unreachable': 0, 'failed': 1, 'skipped': 9, 'rescued': 1, 'ignored': 0}


def test_failed_and_unreachable_are_problems_changed_only_when_asked():
    assert recap.problems(OUTPUT) == ['lab-redis-1: failed=1']
    assert recap.problems(OUTPUT, changed=True) == ['lab-redis-1: failed=1', 'lab-redis-1: changed=2', 'localhost: changed=1']


def test_hosts_can_be_left_out():
    assert recap.problems(OUTPUT, changed=True, hosts=lambda host: host != 'localhost') == ['lab-redis-1: failed=1', 'lab-redis-1: changed=2']


def test_no_recap_is_a_problem_not_a_pass():
    assert recap.problems('ERROR! the playbook could not be parsed') == ['no PLAY RECAP in the output']


def test_a_task_line_is_not_a_recap_line():
    assert recap.recap('ok: [lab-redis-1] => changed=1 ok=2') == {}
