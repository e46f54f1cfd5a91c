# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of the lab acceptance (tests/lab/acceptance/helpers.py): the figures it builds
from the client's samples, its readers of run output, the store and the broker, and the order of
its tests (tests/lab/acceptance/conftest.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import os

import pytest

from ansible_collections.flash.connect.tests.lab.acceptance import helpers

LAB_TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'lab', 'acceptance')

# (seconds since start, status or error, version, path, colour), as the client records them.
SAMPLES = [
    (0.1, 200, '1.0.0', '/health', 'blue'),
    (0.2, 200, '1.0.0', '/api/commands', 'blue'),
    (0.3, 'ConnectionResetError', None, '/health', None),
    (0.4, 200, '1.1.0', '/health', 'green'),
    (0.5, 502, '1.1.0', '/api/commands', 'green'),
    (0.6, 200, '1.1.0', '/health', 'green'),
]


def test_proxy_address_reads_the_url_of_endpoints_json():
    assert helpers.proxy_address('https://localhost:8443/') == ('localhost', 8443)
    assert helpers.proxy_address('https://proxy.example/') == ('proxy.example', 443)


def test_summary_counts_failures_and_the_sequences_seen():
    figures = helpers.samples_summary(SAMPLES)
    assert figures['requests'] == 6 and figures['failed'] == 2
    assert figures['first_failures'] == [SAMPLES[2], SAMPLES[4]]
    assert figures['versions_seen'] == ['1.0.0', '1.1.0']
    assert figures['colours_seen'] == ['blue', 'green']
    assert helpers.failed(SAMPLES, '/api/commands') == [SAMPLES[4]]


def test_sequence_drops_repeats_and_missing_values_only():
    samples = [(0, 200, 'a', '/', 'blue'), (0, 200, None, '/', None), (0, 200, 'a', '/', 'green'), (0, 200, 'b', '/', 'blue'),
               (0, 200, 'a', '/', 'blue')]
    assert helpers.sequence(samples, 2) == ['a', 'b', 'a']
    assert helpers.sequence(samples, 4) == ['blue', 'green', 'blue']


def _answers(*pairs):
    """Samples from (seconds, colour) pairs; blue runs 1.0.0 and green 1.1.0."""
    return [(t, 200, {'blue': '1.0.0', 'green': '1.1.0'}[c], '/health', c) for t, c in pairs]


def test_an_old_worker_answer_inside_the_reload_window_is_an_echo_not_a_switch_back():
    # CI of 2026-12-04, test_rollback: green, blue, green, blue while nginx reloaded once.
    samples = _answers((0.0, 'green'), (10.0, 'green'), (10.125, 'blue'), (10.25, 'green'), (10.375, 'blue'), (12.0, 'blue'))
    assert helpers.settled_sequence(samples, 4) == (['green', 'blue'], [0.125])
    figures = helpers.samples_summary(samples)
    assert figures['versions_seen'] == ['1.1.0', '1.0.0'] and figures['colours_seen'] == ['green', 'blue']
    assert figures['reload_echoes'] == [0.125] and figures['versions_raw'] == ['1.1.0', '1.0.0', '1.1.0', '1.0.0']


def test_several_echoes_in_one_window_are_all_counted():
    samples = _answers((0.0, 'blue'), (1.0, 'green'), (1.1, 'blue'), (1.2, 'green'), (1.3, 'blue'), (1.4, 'green'))
    assert helpers.settled_sequence(samples, 4) == (['blue', 'green'], [0.1, 0.3])


def test_a_switch_back_that_stays_is_a_change_however_soon():
    samples = _answers((0.0, 'blue'), (1.0, 'green'), (1.2, 'blue'), (5.0, 'blue'))
    assert helpers.settled_sequence(samples, 4) == (['blue', 'green', 'blue'], [])


def test_a_return_after_the_reload_window_is_a_change():
    samples = _answers((0.0, 'blue'), (1.0, 'green'), (1.0 + helpers.RELOAD_WINDOW_S + 0.1, 'blue'), (4.0, 'green'))
    assert helpers.settled_sequence(samples, 4) == (['blue', 'green', 'blue', 'green'], [])


def test_recovery_is_measured_from_the_stop_to_the_last_failure():
    samples = [(1.0, 500, None, '/', None)] + [(2.0 + i, 200 if i not in (1, 3) else 'timeout', None, '/', None) for i in range(8)]
    figures = helpers.recovery_figures(samples, 2.0)
    assert figures['requests_after_stop'] == 8 and figures['failed_after_stop'] == 2
    assert figures['recovered_within_s'] == 3.0
    assert figures['failures_by_kind'] == {'timeout': 2}
    assert figures['first_failure_s'] == [1.0, 3.0] and figures['last_failure_s'] == [1.0, 3.0]
    assert figures['requests_after_recovery'] == 5


def test_no_failure_after_the_stop_is_an_immediate_recovery():
    figures = helpers.recovery_figures([(3.0, 200, None, '/', None)], 2.0)
    assert figures['recovered_within_s'] == 0 and figures['failures_by_kind'] == {}


RECAP = """
PLAY RECAP *********************************************************************
lab-app-1                  : ok=20   changed=0    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
lab-redis-1                : ok=69   changed=2    unreachable=0    failed=0    skipped=10   rescued=1    ignored=0
lab-redis-2                : ok=69   changed=12   unreachable=0    failed=0    skipped=10   rescued=0    ignored=0
"""


def test_changed_hosts_and_rescue_from_the_recap():
    assert helpers.changed_hosts(RECAP) == ['lab-redis-1', 'lab-redis-2']
    assert helpers.rescued(RECAP)
    assert not helpers.rescued(RECAP.replace('rescued=1', 'rescued=0'))
    assert helpers.changed_hosts('no recap') == []


def test_leaked_names_the_values_found_never_the_empty_ones():
    assert helpers.leaked({'a': 'secret-a', 'b': 'secret-b', 'c': ''}, ['x secret-b y', 'nothing']) == ['b']


@pytest.mark.parametrize('running, record, expected', [
    (['blue=1.0.0'], {'tag': '1.0.0', 'colour': 'blue', 'previous': {}}, ('1.0.0', None)),
    (['green=1.1.0'], {'tag': '1.1.0', 'colour': 'green', 'previous': {'tag': '1.0.0', 'colour': 'blue'}}, ('1.1.0', '1.0.0')),
    # Two colours running, or the record naming another colour: no single live release.
    (['blue=1.0.0', 'green=1.1.0'], {'tag': '1.1.0', 'colour': 'green'}, (None, None)),
    (['blue=1.0.0'], {'tag': '1.0.0', 'colour': 'green'}, (None, None)),
    ([], {}, (None, None)),
])
def test_release_state(running, record, expected):
    assert helpers.release_state(running, record) == expected


def test_deploy_checks_name_each_failure():
    good = {'failed': 0, 'versions_seen': ['1.0.0', '1.1.0'], 'running': ['green=1.1.0']}
    assert helpers.deploy_checks(good, 0, '1.1.0') == []
    bad = {'failed': 3, 'versions_seen': ['1.0.0'], 'running': ['blue=1.0.0', 'green=1.1.0']}
    assert helpers.deploy_checks(bad, 2, '1.1.0') == [
        'make lab-deploy TAG=1.1.0 failed (.build/lab-check/deploy-1.1.0.log)', 'requests failed during the deploy',
        'the proxy does not serve 1.1.0 after the deploy', 'the old colour still runs']


def test_a_failover_record_counts_only_on_the_lab_that_made_it():
    lab = {'lab-app-1': 'id1', 'lab-redis-1': 'id2'}
    record = {'lab': dict(lab), 'app_containers': {'c1': '2026-12-01T10:00:00Z'}}
    assert helpers.record_for(record, lab) == ({'c1': '2026-12-01T10:00:00Z'}, None)
    assert helpers.record_for(record, dict(lab, **{'lab-redis-1': 'rebuilt'}))[0] is None
    assert helpers.record_for({'c1': 'x'}, lab) == (None, 'the record names no lab')


STORE = {'secrets': {
    'redis_app': {'overlap': 600, 'versions': [
        {'version': 1, 'value': 'old', 'created': '2026-12-01T09:00:00Z'},
        {'version': 2, 'value': 'new', 'created': '2026-12-01T10:00:00Z'}]},
    'rabbitmq_app': {'overlap': 0, 'versions': [{'version': 1, 'value': 'only', 'created': '2026-12-01T09:00:00Z'}]},
}}


def test_store_readers():
    assert helpers.newest_versions(STORE) == {'redis_app': (2, 'new'), 'rabbitmq_app': (1, 'only')}
    assert helpers.entry_window(STORE['secrets']['redis_app']) == ('new', 'old', 1796119200 + 600)
    assert helpers.entry_window(STORE['secrets']['rabbitmq_app']) == ('only', None, 1796115600)


def test_views_healthy_needs_every_replica_sentinel_and_quorum():
    view = {'flags': 'master', 'replicas': '2', 'other_sentinels': '2', 'ckquorum': 'OK'}
    assert helpers.views_healthy({'s1 m': view, 's2 m': dict(view)}, 3, 3)
    assert not helpers.views_healthy({'s1 m': view, 's2 m': dict(view, replicas='1')}, 3, 3)
    assert not helpers.views_healthy({'s1 m': dict(view, flags='s_down,master')}, 3, 3)
    assert not helpers.views_healthy({}, 3, 3)


def test_connections_are_counted_on_the_node_that_accepted_them():
    connections = [
        {'user': 'flash', 'vhost': 'flash', 'name': '10.0.0.9:41000 -> 10.0.0.5:5672'},
        {'user': 'flash', 'vhost': 'flash', 'name': '10.0.0.10:41000 -> 10.0.0.5:5672'},
        {'user': 'flash', 'vhost': 'flash', 'name': '10.0.0.9:41001 -> 10.0.0.6:5672'},
        {'user': 'flash', 'vhost': 'flash', 'name': '10.0.0.9:41002 -> 10.0.0.99:5672'},
        {'user': 'monitoring', 'vhost': 'flash', 'name': '10.0.0.9:41003 -> 10.0.0.6:5672'},
        {'user': 'flash', 'vhost': '/', 'name': '10.0.0.9:41004 -> 10.0.0.6:5672'},
    ]
    address = {'10.0.0.5': 'lab-rmq-1', '10.0.0.6': 'lab-rmq-2'}
    assert helpers.connections_per_node(connections, address, 'flash', 'flash') == {'lab-rmq-1': 2, 'lab-rmq-2': 1, 'unknown': 1}


@pytest.mark.parametrize('saved, setting', [('{absolute,1073741824}', 'absolute 1073741824'), ('0.4', '0.4')])
def test_watermark_setting_puts_back_what_the_node_reported(saved, setting):
    assert helpers.watermark_setting(saved) == setting


def test_amqp_host():
    assert helpers.amqp_host('amqp://flash@lab-rmq-2:5672/flash') == 'lab-rmq-2'


def _lab_tests():
    found = {}
    for path in glob.glob(os.path.join(LAB_TESTS, 'test_*.py')):
        with open(path) as handle:
            tree = ast.parse(handle.read())
        found.update((node.name, os.path.basename(path)) for node in tree.body
                     if isinstance(node, ast.FunctionDef) and node.name.startswith('test_'))
    return found


def _order():
    with open(os.path.join(LAB_TESTS, 'conftest.py')) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ['ORDER']:
            return ast.literal_eval(node.value)
    raise AssertionError('conftest.py has no ORDER')


def test_every_lab_test_has_its_place_and_step_name_in_the_order():
    order = _order()
    names = [name for name, dummy in order]
    assert sorted(names) == sorted(_lab_tests()), 'ORDER and the test functions differ'
    assert len(set(step for dummy, step in order)) == len(order), 'two tests print the same step name'
    # The lab-check's stages: the rotation before the Redis failover, the failovers before
    # rotate-later (they fill its window), no-redeploy and prune last.
    assert names.index('test_rotate') < names.index('test_redis_failover') < names.index('test_rotate_later')
    assert names[-2:] == ['test_no_redeploy', 'test_prune']
