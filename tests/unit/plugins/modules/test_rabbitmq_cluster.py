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

# Run from a checkout with plain pytest: make the collection importable as
# ansible_collections.flash.connect through the .collections link (ansible-test does this itself).
_COLLECTIONS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.collections')
if os.path.isdir(_COLLECTIONS) and os.path.abspath(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, os.path.abspath(_COLLECTIONS))

from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.flash.connect.plugins.module_utils import _rabbitmq  # noqa: E402
from ansible_collections.flash.connect.plugins.modules import rabbitmq_cluster  # noqa: E402
from ansible_collections.flash.connect.tests.unit.plugins.modules.harness import ExitJson, FailJson  # noqa: E402


def status(disk, running_nodes=None, ram=None):
    return json.dumps({
        'cluster_name': disk[0],
        'disk_nodes': disk,
        'ram_nodes': ram or [],
        'running_nodes': running_nodes if running_nodes is not None else disk,
        'partitions': {},
        'alarms': [],
    })


class FakeCluster(object):
    """Answers rabbitmqctl / rabbitmq-queues calls from a tiny model of the nodes."""

    def __init__(self, views, queues=None, vhosts=None, fail=None):
        self.views = dict(views)           # node -> list of members it sees
        self.queues = queues or {}         # vhost -> [{'name':..., 'messages':...}] on the local node
        self.vhosts = vhosts or ['/']
        self.fail = fail or {}             # command word -> (rc, err)
        self.calls = []

    def __call__(self, cmd, *args, **kwargs):
        self.calls.append(cmd)
        binary = os.path.basename(cmd[0])
        node = cmd[cmd.index('-n') + 1]
        rest = cmd[cmd.index('--timeout') + 2:]
        word = rest[0]
        if word in self.fail:
            rc, err = self.fail[word]
            return rc, '', err
        if binary == 'rabbitmq-queues':
            return 0, '', ''
        if word == 'cluster_status':
            if node not in self.views:
                return 69, '', 'Error: unable to perform an operation on node %s' % node
            return 0, status(self.views[node]), ''
        if word == 'list_vhosts':
            return 0, json.dumps([{'name': v} for v in self.vhosts]), ''
        if word == 'list_queues':
            return 0, json.dumps(self.queues.get(rest[2], [])), ''
        if word == 'join_cluster':
            seed = rest[-1]
            joined = sorted(set(self.views[seed]) | set([node]))
            for n in joined:
                self.views[n] = joined
            return 0, '', ''
        if word == 'forget_cluster_node':
            gone = rest[1]
            for n in list(self.views):
                if n != gone:
                    self.views[n] = [m for m in self.views[n] if m != gone]
            return 0, '', ''
        return 0, '', ''

    def words(self):
        return [c[c.index('--timeout') + 2] for c in self.calls]


@pytest.fixture
def run(monkeypatch):
    def _run(args, cluster, check_mode=False, diff=False):
        def exit_json(self, **kwargs):
            kwargs.setdefault('changed', False)
            raise ExitJson(kwargs)

        def fail_json(self, **kwargs):
            raise FailJson(kwargs)

        monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
        monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                            lambda self, name, required=False, opt_dirs=None: '/usr/sbin/' + name)
        monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda self, cmd, **kw: cluster(cmd))
        full = dict(args)
        full['_ansible_check_mode'] = check_mode
        full['_ansible_diff'] = diff
        with patch_module_args(full):
            with pytest.raises((ExitJson, FailJson)) as caught:
                rabbitmq_cluster.main()
        return caught.type, caught.value.args[0]
    return _run


N1, N2, N3 = 'rabbit@rmq-1', 'rabbit@rmq-2', 'rabbit@rmq-3'


def test_seed_is_required(run):
    kind, res = run({'node': N2}, FakeCluster({N2: [N2]}))
    assert kind is FailJson
    assert 'seed' in res['msg']


def test_node_type_choices_are_enforced(run):
    kind, res = run({'seed': N1, 'node': N2, 'node_type': 'diskless'}, FakeCluster({N2: [N2]}))
    assert kind is FailJson
    assert 'node_type' in res['msg']


@pytest.mark.parametrize('bad', [{'seed': 'rmq-1', 'node': N2}, {'seed': N1, 'node': 'rmq-2'}])
def test_node_names_must_have_a_host_part(run, bad):
    cluster = FakeCluster({N2: [N2]})
    kind, res = run(bad, cluster)
    assert kind is FailJson
    assert 'is not a node name' in res['msg']
    assert cluster.calls == []


def test_already_member_changes_nothing(run):
    cluster = FakeCluster({N1: [N1, N2], N2: [N1, N2]})
    kind, res = run({'seed': N1, 'node': N2}, cluster)
    assert kind is ExitJson
    assert res['changed'] is False
    assert res['members'] == [N1, N2]
    assert cluster.words() == ['cluster_status']


def test_seed_itself_changes_nothing(run):
    cluster = FakeCluster({N1: [N1]})
    kind, res = run({'seed': N1, 'node': N1}, cluster)
    assert kind is ExitJson and res['changed'] is False


def test_fresh_node_joins(run):
    cluster = FakeCluster({N1: [N1, N3], N3: [N1, N3], N2: [N2]})
    kind, res = run({'seed': N1, 'node': N2}, cluster, diff=True)
    assert kind is ExitJson
    assert res['changed'] is True
    assert res['members'] == [N1, N2, N3]
    assert res['forgot_stale_member'] is False
    assert res['diff'] == {'before': {'members': [N2]}, 'after': {'members': [N1, N2, N3]}}
    words = cluster.words()
    assert words.index('stop_app') < words.index('join_cluster') < words.index('start_app')
    assert 'forget_cluster_node' not in words
    assert 'grow' in words
    join = [c for c in cluster.calls if 'join_cluster' in c][0]
    assert join[-1] == N1 and '--ram' not in join


def test_ram_node_joins_with_ram_flag(run):
    cluster = FakeCluster({N1: [N1], N2: [N2]})
    kind, res = run({'seed': N1, 'node': N2, 'node_type': 'ram', 'grow_quorum_queues': False}, cluster)
    assert kind is ExitJson and res['changed'] is True
    join = [c for c in cluster.calls if 'join_cluster' in c][0]
    assert '--ram' in join
    assert 'grow' not in cluster.words()


def test_check_mode_reports_without_changing(run):
    cluster = FakeCluster({N1: [N1, N3], N3: [N1, N3], N2: [N2]})
    kind, res = run({'seed': N1, 'node': N2}, cluster, check_mode=True, diff=True)
    assert kind is ExitJson
    assert res['changed'] is True
    assert res['diff']['after']['members'] == [N1, N2, N3]
    assert not set(cluster.words()) & {'stop_app', 'join_cluster', 'start_app', 'forget_cluster_node', 'grow'}
    assert cluster.views[N2] == [N2]


def test_rebuilt_blank_node_makes_seed_forget_it_then_joins(run):
    # The seed still lists rmq-2; the rebuilt rmq-2 only knows itself.
    cluster = FakeCluster({N1: [N1, N2, N3], N3: [N1, N2, N3], N2: [N2]})
    kind, res = run({'seed': N1, 'node': N2}, cluster)
    assert kind is ExitJson
    assert res['changed'] is True and res['forgot_stale_member'] is True
    words = cluster.words()
    assert words.index('stop_app') < words.index('forget_cluster_node') < words.index('join_cluster')
    forget = [c for c in cluster.calls if 'forget_cluster_node' in c][0]
    assert forget[forget.index('-n') + 1] == N1 and forget[-1] == N2
    # No reset or stop is ever sent to another node.
    for call in cluster.calls:
        if call[call.index('-n') + 1] != N2:
            assert call[call.index('--timeout') + 2] in ('cluster_status', 'forget_cluster_node')


def test_member_of_another_cluster_is_never_reset(run):
    cluster = FakeCluster({N1: [N1], N2: [N2, 'rabbit@old-1'], 'rabbit@old-1': [N2, 'rabbit@old-1']})
    kind, res = run({'seed': N1, 'node': N2}, cluster)
    assert kind is FailJson
    assert 'refusing to reset rabbit@rmq-2' in res['msg']
    assert 'another cluster' in res['msg']
    assert not set(cluster.words()) & {'stop_app', 'join_cluster', 'reset', 'forget_cluster_node'}


@pytest.mark.parametrize('queues,vhosts,expect', [
    ({'/': [{'name': 'payments', 'messages': 12}]}, ['/'], '//payments (12 messages)'),
    ({}, ['/', 'flash'], 'vhosts: flash'),
])
def test_standalone_node_with_data_is_never_reset(run, queues, vhosts, expect):
    cluster = FakeCluster({N1: [N1], N2: [N2]}, queues=queues, vhosts=vhosts)
    kind, res = run({'seed': N1, 'node': N2}, cluster)
    assert kind is FailJson
    assert 'holding data' in res['msg'] and expect in res['msg']
    assert not set(cluster.words()) & {'stop_app', 'join_cluster', 'reset'}


def test_local_node_down_fails_clearly(run):
    cluster = FakeCluster({N1: [N1]})
    kind, res = run({'seed': N1, 'node': N2}, cluster)
    assert kind is FailJson
    assert 'cannot read the cluster status of rabbit@rmq-2' in res['msg']


def test_unreachable_seed_fails_clearly(run):
    cluster = FakeCluster({N2: [N2]})
    kind, res = run({'seed': N1, 'node': N2}, cluster)
    assert kind is FailJson
    assert 'cannot reach the seed rabbit@rmq-1' in res['msg']
    assert 'stop_app' not in cluster.words()


def test_failed_join_restarts_the_app_and_reports(run):
    cluster = FakeCluster({N1: [N1], N2: [N2]}, fail={'join_cluster': (70, 'Error: inconsistent_cluster')})
    kind, res = run({'seed': N1, 'node': N2}, cluster)
    assert kind is FailJson
    assert 'joining rabbit@rmq-2 to rabbit@rmq-1 failed' in res['msg']
    assert 'inconsistent_cluster' in res['msg']
    assert cluster.words()[-1] == 'start_app'


def test_default_node_name_uses_short_hostname(monkeypatch):
    monkeypatch.setattr(rabbitmq_cluster.socket, 'gethostname', lambda: 'rmq-9.example.org')
    assert rabbitmq_cluster.default_node_name() == 'rabbit@rmq-9'


@pytest.mark.parametrize('text,expected', [
    ('{"a": 1}', {'a': 1}),
    ('Listing queues ...\n[\n{"name":"q"}\n]\n', [{'name': 'q'}]),
    ('[\n]\n', []),
])
def test_parse_json_output(text, expected):
    assert _rabbitmq.parse_json_output(text) == expected


def test_parse_json_output_rejects_noise():
    with pytest.raises(ValueError):
        _rabbitmq.parse_json_output('Error: nope')


def test_members_merges_disc_and_ram():
    assert _rabbitmq.members({'disk_nodes': [N2, N1], 'ram_nodes': [N3]}) == [N1, N2, N3]
