# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's preview check reads the (host, task) pairs a run changed, handlers included."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.flash.connect.tests.lab import preview_check

OUTPUT = """
TASK [flash.connect.redis : Set the Sentinel parameters that differ (SENTINEL MASTER, then SENTINEL SET)] ***
changed: [lab-redis-1] => (item=flash-session)
ok: [lab-redis-2]
changed: [lab-redis-3] => (item=flash-cache)

TASK [flash.connect.proxy : Write the limits, zones and TLS session cache] *****
--- before: /etc/nginx/conf.d/flash-http.conf
changed: [lab-proxy-1]

RUNNING HANDLER [flash.connect.proxy : Reload nginx] ***************************
changed: [lab-proxy-1]

PLAY RECAP *********************************************************************
lab-proxy-1                : ok=103  changed=2    unreachable=0    failed=0    skipped=21   rescued=0    ignored=0
lab-redis-1                : ok=69   changed=1    unreachable=0    failed=1    skipped=10   rescued=0    ignored=0
"""


def test_changed_pairs_name_each_host_and_task_once():
    sentinel = 'flash.connect.redis : Set the Sentinel parameters that differ (SENTINEL MASTER, then SENTINEL SET)'
    assert preview_check.changed_pairs(OUTPUT) == {
        ('lab-redis-1', sentinel), ('lab-redis-3', sentinel),
        ('lab-proxy-1', 'flash.connect.proxy : Write the limits, zones and TLS session cache'),
        ('lab-proxy-1', 'flash.connect.proxy : Reload nginx')}


def test_a_failed_host_in_the_recap_is_reported():
    assert preview_check.failures(OUTPUT) == ['lab-redis-1: failed=1']


def test_the_journal_summaries_are_compared_apart():
    pairs = {('lab-redis-1', 'flash.connect.redis : Set it'), ('lab-redis-1', preview_check.SUMMARY),
             ('lab-proxy-1', preview_check.SUMMARY)}
    assert preview_check.split_summaries(pairs) == ({('lab-redis-1', 'flash.connect.redis : Set it')},
                                                    {'lab-redis-1', 'lab-proxy-1'})


def test_the_rollback_plan_is_read_from_deploy_yml_output():
    from ansible_collections.flash.connect.tests.lab import check_playbooks
    assert check_playbooks.plan("msg: 'flash-connect/reference-app:1.0.0 -> green (in-place; live: green running 1.0.0)'") \
        == ('in-place', False)
    assert check_playbooks.plan("msg: 'app:1.1.0 -> blue (switch, configuration changed; live: green running 1.0.0)'") \
        == ('switch', True)
    assert check_playbooks.plan('no plan here') is None
