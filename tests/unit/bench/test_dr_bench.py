# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/benchmarks/dr.md says what the drills' figures say: medians, and the verdict against the plan."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import statistics

import pytest

from ansible_collections.flash.connect.tests.bench import dr_bench
from ansible_collections.flash.connect.tests.bench.verdict import Target

CTX = {'command': '.venv/bin/python tests/bench/dr_bench.py --runs 3', 'date': '2026-12-03 08:00 UTC',
       'platform': 'Linux', 'cores': 2, 'load_before': '1.0/1.0/1.0', 'load_after': '2.0/2.0/2.0'}


def drill(rpo, rto):
    return {'rpo_s': rpo, 'rto_s': rto, 'rebuild_s': 5.0, 'converge_s': 70.0, 'restore_s': rto - 75.0,
            'canaries_found': 6, 'canaries_written': 12, 'snapshot_host': 'lab-redis-3'}


@pytest.mark.parametrize('rpos, rtos, met', [
    ((60.0, 70.0, 400.0), (100.0, 110.0, 120.0), True),    # one RPO above the bound: the median is not
    ((60.0, 310.0, 400.0), (100.0, 110.0, 120.0), False),  # the median RPO above 5 min
    ((60.0, 70.0, 80.0), (100.0, 1900.0, 2000.0), False),  # the median RTO above 30 min
])
def test_the_verdict_follows_the_medians(rpos, rtos, met):
    drills = [drill(rpo, rto) for rpo, rto in zip(rpos, rtos)]
    targets = [Target('median RPO', statistics.median(rpos), '<=', 300.0, 's'),
               Target('median RTO', statistics.median(rtos), '<=', 1800.0, 's')]
    text, result = dr_bench.report(CTX, drills, targets)
    assert result['met'] is met
    assert '| median RPO (s) | %.1f |' % statistics.median(rpos) in text
    assert '| median RTO (s) | %.1f |' % statistics.median(rtos) in text
    assert text.count('| lab-redis-3 |') == 3, 'one row per drill'
    assert CTX['command'] in text
