# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A benchmark report says what its figures say: synthetic rounds in, the verdict and prose out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.flash.connect.tests.bench import rabbitmq_bench


class Figures(dict):
    """A result row: the figures given, and 1 for any other the report prints."""

    def __missing__(self, key):
        return 1


def rounds(gap_s, missing, stop_s):
    made = []
    for n in (1, 2, 3):
        steady = Figures(msg_per_s=300.0, max_confirm_gap_s=0.1, confirmed=1000, missing=0)
        made.append(Figures(
            round=n, load=1.0, quorum_follower=steady, quorum_leader=steady, classic=steady,
            failover_stop=Figures(max_confirm_gap_s=gap_s, docker_stop_s=stop_s, confirmed=500, missing=missing,
                                  msg_per_s=250.0, rejoin_s=15.0, leader_stopped='rmq-1'),
            failover_kill=Figures(max_confirm_gap_s=0.25, docker_stop_s=0.4, confirmed=500, missing=0,
                                  msg_per_s=250.0, rejoin_s=18.0, leader_stopped='rmq-2')))
    return made


CTX = {
    'command': '.venv/bin/python tests/bench/rabbitmq_bench.py', 'date': '2026-11-30 04:00',
    'machine': {'cpu': 'test', 'cores': 2, 'mem_gib': 24, 'kernel': '6', 'docker': '20', 'python': '3.11'},
    'broker': {}, 'erl_args': '+S 1:1', 'user': 'flash', 'seconds': 10, 'failover_seconds': 20,
    'stop_modes': ['stop', 'kill'], 'load_before': (1.0, 1.0, 1.0), 'load_after': (1.0, 1.0, 1.0),
}


@pytest.mark.parametrize('gap_s, missing, stop_s, met', [
    (0.29, 0, 10.5, True),
    (6.2, 0, 10.5, False),   # the confirm gap target missed
    (0.29, 3, 4.0, False),   # messages lost
])
def test_rabbitmq_report_verdict_and_prose_follow_the_figures(tmp_path, gap_s, missing, stop_s, met):
    report = tmp_path / 'rabbitmq.md'
    result = rabbitmq_bench.write_report(report, CTX, rounds(gap_s, missing, stop_s))
    text = report.read_text()
    assert result['met'] is met
    assert ('Verdict in this run: **met**' in text) is met
    assert ('Verdict in this run: **missed**' in text) is not met
    # The prose about `docker stop` says what the figure says.
    assert ('past docker\'s 10 s grace limit' in text) is (stop_s >= 10)
    assert ('within docker\'s 10 s grace limit' in text) is (stop_s < 10)
    if gap_s < stop_s:
        assert 'shows the queue had a new leader well before' in text
