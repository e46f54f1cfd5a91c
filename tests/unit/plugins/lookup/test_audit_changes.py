# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""audit_changes: this run's changed tasks per host, from the audit trail's records."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.flash.connect.plugins.lookup.audit_changes import LookupModule, read_changes


def _lookup():
    plugin = LookupModule()
    plugin._load_name = 'flash.connect.audit_changes'
    return plugin


def _write(path, records):
    path.write_text(''.join(json.dumps(r) + '\n' for r in records) + 'not json\n')


RECORDS = [
    {'event': 'run_start', 'run_id': 'old', 'playbook': '/p/old.yml', 'user': 'someone'},
    {'event': 'task_changed', 'run_id': 'old', 'host': 'h1', 'task': 'from another run'},
    {'event': 'run_start', 'run_id': 'r1', 'playbook': '/p/site.yml', 'user': 'ops'},
    {'event': 'task_changed', 'run_id': 'r1', 'host': 'h1', 'task': 'redis : Write the config'},
    {'event': 'task_failed', 'run_id': 'r1', 'host': 'h1', 'task': 'a failure is not a change'},
    {'event': 'task_changed', 'run_id': 'r1', 'host': 'h2', 'task': 'proxy : Reload'},
    {'event': 'task_changed', 'run_id': 'r1', 'host': 'h1', 'task': 'redis : Restart'},
    {'event': 'task_changed', 'run_id': 'r1', 'host': 'h1', 'task': 'redis : Write the config'},
]


def test_only_this_runs_changes_per_host_in_order_without_repeats(tmp_path):
    path = tmp_path / 'audit.jsonl'
    _write(path, RECORDS)
    h1, h2, h3 = read_changes(str(path), 'r1', ['h1', 'h2', 'h3'])
    assert h1 == {'host': 'h1', 'run_id': 'r1', 'playbook': '/p/site.yml', 'user': 'ops',
                  'changed_tasks': ['redis : Write the config', 'redis : Restart']}
    assert h2['changed_tasks'] == ['proxy : Reload'] and h3['changed_tasks'] == []


def test_without_the_callback_nothing_is_read(tmp_path, monkeypatch):
    path = tmp_path / 'audit.jsonl'
    _write(path, RECORDS)
    assert read_changes(None, 'r1', ['h1'])[0]['changed_tasks'] == []
    assert read_changes(str(path), None, ['h1'])[0]['changed_tasks'] == []
    assert read_changes(str(tmp_path / 'missing.jsonl'), 'r1', ['h1'])[0]['changed_tasks'] == []
    # The lookup takes the run and the file from the environment the callback sets.
    monkeypatch.setenv('FLASH_AUDIT_TRAIL_FILE', str(path))
    monkeypatch.setenv('FLASH_AUDIT_RUN_ID', 'r1')
    assert _lookup().run(['h2'], variables={})[0]['changed_tasks'] == ['proxy : Reload']
    monkeypatch.delenv('FLASH_AUDIT_RUN_ID')
    assert _lookup().run(['h2'], variables={})[0]['changed_tasks'] == []


def test_a_summary_written_starts_the_hosts_list_afresh(tmp_path):
    path = tmp_path / 'audit.jsonl'
    _write(path, RECORDS + [
        {'event': 'task_changed', 'run_id': 'r1', 'host': 'h1', 'task': "Write the summary into the host's journal"},
        {'event': 'task_changed', 'run_id': 'r1', 'host': 'h1', 'task': 'app : Start the colour'}])
    h1, h2 = read_changes(str(path), 'r1', ['h1', 'h2'])
    assert h1['changed_tasks'] == ['app : Start the colour'] and h2['changed_tasks'] == ['proxy : Reload']
    # The whole run, as a reader checks the summaries against it.
    assert _lookup().run(['h1'], variables={}, file=str(path), run_id='r1', since_last_summary=False)[0]['changed_tasks'] \
        == ['redis : Write the config', 'redis : Restart', 'app : Start the colour']


def test_a_named_file_and_run_override_the_environment(tmp_path, monkeypatch):
    path = tmp_path / 'audit.jsonl'
    _write(path, RECORDS)
    monkeypatch.setenv('FLASH_AUDIT_TRAIL_FILE', str(tmp_path / 'other.jsonl'))
    monkeypatch.setenv('FLASH_AUDIT_RUN_ID', 'old')
    lookup = _lookup()
    assert lookup.run(['h1'], variables={}, file=str(path), run_id='r1')[0]['changed_tasks'] == \
        ['redis : Write the config', 'redis : Restart']
