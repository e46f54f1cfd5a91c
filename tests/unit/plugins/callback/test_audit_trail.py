# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit_trail callback through real ansible-playbook runs on the local connection."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.flash.connect.plugins.callback import audit_trail
from ansible_collections.flash.connect.tests.unit.plugins.action.harness import ANSIBLE_PLAYBOOK, isolated_ansible

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

SECRET = 'S3cret-audit-value-7f1d2c'
ARG_VALUE = 'plain-argument-value-9c4e'
ITEM_VALUE = 'loop-item-value-0b8a'

PLAYBOOK = '''\
- name: Audited play
  hosts: all
  gather_facts: false
  vars:
    audited_secret: "{{ lookup('ansible.builtin.env', 'AUDIT_SECRET') }}"
  tasks:
    - name: Write the secret file
      ansible.builtin.copy:
        content: "{{ audited_secret }}"
        dest: "{{ playbook_dir }}/secret-{{ inventory_hostname }}.txt"
        mode: "0600"
      no_log: true
    - name: Write a plain file
      ansible.builtin.copy:
        content: "%(arg)s"
        dest: "{{ playbook_dir }}/plain-{{ inventory_hostname }}.txt"
        mode: "0644"
    - name: Loop with a changed item
      ansible.builtin.command: "echo {{ item }}"
      loop: ["%(item)s"]
      changed_when: true
    - name: Read only
      ansible.builtin.command: "true"
      changed_when: false
    - name: A failure that is ignored
      ansible.builtin.command: "sh -c 'echo %(arg)s >&2; exit 3'"
      changed_when: false
      ignore_errors: true
''' % {'arg': ARG_VALUE, 'item': ITEM_VALUE}


def run(tmp_path, extra=(), book_text=PLAYBOOK):
    book = tmp_path / 'audited.yml'
    book.write_text(book_text)
    trail = tmp_path / 'audit' / 'trail.jsonl'
    env = isolated_ansible(tmp_path, 'callbacks_enabled = flash.connect.audit_trail\n', FLASH_AUDIT_TRAIL_PATH=str(trail),
                           FLASH_AUDIT_TRAIL_SYSLOG='false', AUDIT_SECRET=SECRET)
    command = [ANSIBLE_PLAYBOOK, '-vvv', '--diff',
               '-i', 'alpha,beta,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable,
               str(book)] + list(extra)
    done = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=180,
                          check=False)
    records = [json.loads(line) for line in trail.read_text().splitlines()] if trail.exists() else []
    return done, trail, records


@pytest.fixture(scope='module')
def first_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('audit')
    extra = ['-e', 'awx_job_id=4242', '-e', 'awx_user_name=ops-alice', '-e', 'db_password=%s' % SECRET]
    return (tmp_path,) + run(tmp_path, extra)


def test_a_run_is_recorded_from_start_to_end(first_run):
    tmp_path, done, trail, records = first_run
    assert done.returncode == 0, done.stdout + done.stderr
    assert records[0]['event'] == 'run_start' and records[-1]['event'] == 'run_end'
    assert len({r['run_id'] for r in records}) == 1
    start = records[0]
    assert start['playbook'] == str(tmp_path / 'audited.yml')
    assert start['inventory'] == ['alpha,beta,']
    assert start['awx'] == {'job_id': '4242', 'user_name': 'ops-alice'}
    assert start['check_mode'] is False
    assert 'db_password' in start['extra_var_names']
    assert start['collection']['version']
    end = records[-1]
    assert end['result'] == 'ok'
    assert end['changed_hosts'] == ['alpha', 'beta']
    assert end['stats']['alpha']['changed'] == 3


def test_every_changed_task_is_named_per_host_and_nothing_else(first_run):
    records = first_run[3]
    changed = sorted((r['host'], r['task']) for r in records if r['event'] == 'task_changed')
    assert changed == sorted((host, task) for host in ('alpha', 'beta') for task in
                             ('Write the secret file', 'Write a plain file', 'Loop with a changed item'))
    no_log = [r for r in records if r['event'] == 'task_changed' and r['task'] == 'Write the secret file']
    assert all(r['no_log'] for r in no_log) and all(r['action'] == 'ansible.builtin.copy' for r in no_log)
    failed = [r for r in records if r['event'] == 'task_failed']
    assert sorted(r['host'] for r in failed) == ['alpha', 'beta'] and all(r['ignored'] for r in failed)


def test_no_value_reaches_the_trail(first_run):
    tmp_path, done, trail, records = first_run
    text = trail.read_text()
    # Positive control: the values were really used by the run (files written, item echoed).
    assert (tmp_path / 'secret-alpha.txt').read_text() == SECRET
    assert ITEM_VALUE in done.stdout
    for value in (SECRET, ARG_VALUE, ITEM_VALUE):
        assert value not in text, 'a value reached the audit trail'


def test_the_trail_is_private(first_run):
    trail = first_run[2]
    assert stat.S_IMODE(os.stat(str(trail)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(trail.parent)).st_mode) == 0o700


def test_a_failed_run_and_check_mode_are_recorded(tmp_path):
    book = textwrap.dedent('''\
        - name: Failing play
          hosts: all
          gather_facts: false
          tasks:
            - name: Change
              ansible.builtin.copy:
                content: "x"
                dest: "{{ playbook_dir }}/x-{{ inventory_hostname }}"
                mode: "0644"
            - name: Fail on beta
              ansible.builtin.fail:
                msg: "boom"
              when: inventory_hostname == 'beta'
        ''')
    done, trail, records = run(tmp_path, ['--check'], book_text=book)
    assert done.returncode != 0
    assert records[0]['check_mode'] is True and records[0]['awx'] is None
    assert records[-1]['result'] == 'failed'
    assert [(r['host'], r['task']) for r in records if r['event'] == 'task_failed'] == [('beta', 'Fail on beta')]


def test_an_unwritable_path_warns_and_the_run_goes_on(tmp_path):
    blocker = tmp_path / 'audit'
    blocker.write_text('a file where the directory should be')
    done, trail, records = run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'audit_trail: cannot write' in done.stdout + done.stderr
    assert records == []


@pytest.mark.parametrize('extra_vars, expected', [
    ({}, None),
    ({'tower_job_id': 7}, {'job_id': 7}),
    ({'awx_job_id': 8, 'tower_job_id': 7, 'awx_job_template_name': 'deploy'}, {'job_id': 8, 'job_template_name': 'deploy'}),
    ({'awx_user_name': ''}, None),
])
def test_awx_identity(extra_vars, expected):
    assert audit_trail.awx_identity(extra_vars) == expected


def test_collection_identity_of_this_checkout():
    found = audit_trail.collection_identity(REPO)
    assert found['version'] and found['commit'] and len(found['commit']) == 40


SUMMARY_BOOK = '''\
- name: Changes
  hosts: all
  gather_facts: false
  tasks:
    - name: Change alpha only
      ansible.builtin.command: "true"
      changed_when: inventory_hostname == 'alpha'
    - name: What this run changed here, as the summary play reads it
      ansible.builtin.copy:
        content: "{{ query('flash.connect.audit_changes', inventory_hostname) | first | to_json }}"
        dest: "{{ playbook_dir }}/summary-{{ inventory_hostname }}.json"
        mode: "0600"
'''


def test_the_summary_lookup_reads_this_runs_changes_in_the_workers(tmp_path):
    # The callback tells the worker processes (where lookups run) its run id and file.
    done, dummy, records = run(tmp_path, book_text=SUMMARY_BOOK)
    assert done.returncode == 0, done.stdout + done.stderr
    alpha = json.loads((tmp_path / 'summary-alpha.json').read_text())
    beta = json.loads((tmp_path / 'summary-beta.json').read_text())
    assert alpha['run_id'] == records[0]['run_id'] and alpha['playbook'] == str(tmp_path / 'audited.yml')
    assert alpha['changed_tasks'] == ['Change alpha only'] and beta['changed_tasks'] == []
