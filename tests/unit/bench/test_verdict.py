# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmarks' verdict comes from the figures: met when they meet the target, missed otherwise."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.flash.connect.tests.bench.verdict import Target, exit_code, judge, verdict


@pytest.mark.parametrize('relation, figure, limit, met', [
    ('<=', 6.71, 8, True),
    ('<=', 8, 8, True),
    ('<=', 9.19, 8, False),
    ('<', 0.29, 5, True),
    ('<', 5, 5, False),
    ('>=', 434.8, 300, True),
    ('>=', 299.9, 300, False),
    ('>', 0, 0, False),
    ('==', 0, 0, True),
    ('==', 2, 0, False),
])
def test_judge_compares_the_figure_with_the_target(relation, figure, limit, met):
    ok, line = judge(Target('figure', figure, relation, limit, 's'))
    assert ok is met
    assert line.endswith('**met**' if met else '**missed**')


def test_a_met_run_says_met_and_exits_zero():
    result = verdict([Target('median first write on the new master', 6.71, '<=', 8, 's'),
                      Target('acknowledged writes lost', 0, '==', 0)])
    assert result['met'] is True and result['word'] == 'met' and result['missed'] == []
    assert exit_code(result) == 0
    text = '\n'.join(result['lines'])
    assert '**met** - all 2 targets met' in text
    assert '- median first write on the new master: 6.71 s (target: at most 8 s): **met**' in text
    assert 'missed' not in text


def test_a_missed_run_says_missed_names_the_target_and_exits_non_zero():
    result = verdict([Target('median first write on the new master', 9.19, '<=', 8, 's'),
                      Target('acknowledged writes lost', 0, '==', 0)])
    assert result['met'] is False and result['word'] == 'missed'
    assert result['missed'] == ['median first write on the new master']
    assert exit_code(result) == 1
    text = '\n'.join(result['lines'])
    assert '**missed** - 1 of 2 targets missed (median first write on the new master)' in text
    assert '9.19 s (target: at most 8 s): **missed**' in text
    assert '**met** -' not in text


def test_a_figure_not_measured_misses_its_target():
    result = verdict([Target('requests through the proxy per second', None, '>=', 300, 'req/s')])
    assert result['met'] is False and exit_code(result) == 1
    assert 'not measured (target: at least 300 req/s): **missed**' in '\n'.join(result['lines'])


def test_no_target_is_an_error_not_a_pass():
    with pytest.raises(ValueError):
        verdict([])
    with pytest.raises(ValueError):
        Target('x', 1, '~', 1)
