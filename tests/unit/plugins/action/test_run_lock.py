# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run_lock action plugin: every branch through ActionBase, then real concurrent ansible-playbook runs."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from ansible_collections.flash.connect.plugins.action import run_lock as action_module
from ansible_collections.flash.connect.plugins.action.run_lock import ActionModule
from ansible_collections.flash.connect.plugins.modules import run_lock as module_doc
from ansible_collections.flash.connect.tests.unit.plugins.action.harness import ANSIBLE_PLAYBOOK, REPO, isolated_ansible, run_action


ME = 424242          # the pid the plugin believes is its ansible-playbook (patched)
HOST = 'ops-1.example'
NOW = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(autouse=True)
def identity(monkeypatch):
    monkeypatch.setattr(action_module, 'run_pid', lambda: ME)
    monkeypatch.setattr(action_module, 'this_host', lambda: HOST)
    monkeypatch.setattr(action_module, 'utc_now', lambda: NOW)


def run(args, check_mode=False, task_vars=None):
    return run_action(ActionModule, 'flash.connect.run_lock', args, check_mode=check_mode, task_vars=task_vars)


def holder(pid=ME, host=HOST, owner='rotate_secrets', started='2026-11-30T11:00:00Z', **extra):
    out = dict(pid=pid, host=host, owner=owner, playbook='/srv/playbooks/%s.yml' % owner, user='alice',
               started=started)
    out.update(extra)
    return out


def write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path.read_bytes()


def dead_pid():
    child = subprocess.Popen(['true'])
    child.wait()
    return child.pid


@pytest.fixture
def lock(tmp_path):
    return tmp_path / 'store.yml.lock'


# ---- acquire ------------------------------------------------------------------------------------

def test_acquire_creates_a_private_file_naming_the_run_and_nothing_else(lock):
    result = run(dict(path=str(lock), owner='rotate_secrets'), task_vars={'db_password': 'never-in-the-lock'})
    assert result['changed'] is True and not result.get('failed')
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    content = json.loads(lock.read_text())
    assert set(content) == {'pid', 'host', 'owner', 'playbook', 'user', 'started'}
    assert content['pid'] == ME and content['host'] == HOST and content['owner'] == 'rotate_secrets'
    assert content['started'] == '2026-11-30T12:00:00Z'
    assert content['user']
    assert 'never-in-the-lock' not in lock.read_text()
    assert result['holder'] == content and result['taken_over'] is None


def test_acquire_makes_a_missing_directory_0700(tmp_path):
    lock = tmp_path / 'secrets' / 'store.yml.lock'
    assert run(dict(path=str(lock), owner='deploy'))['changed'] is True
    assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700


def test_the_real_pid_is_the_parent_of_the_worker(monkeypatch, lock):
    monkeypatch.undo()
    run(dict(path=str(lock), owner='deploy'))
    content = json.loads(lock.read_text())
    assert content['pid'] == os.getppid()


def test_awx_job_and_user_are_named(lock):
    run(dict(path=str(lock), owner='deploy'), task_vars={'awx_job_id': 4242, 'awx_user_name': 'ops-alice'})
    assert 'AWX job 4242 launched by ops-alice' in json.loads(lock.read_text())['user']


def test_tower_job_id_is_named(lock):
    run(dict(path=str(lock), owner='deploy'), task_vars={'tower_job_id': 77})
    assert 'AWX job 77' in json.loads(lock.read_text())['user']


@pytest.mark.parametrize('owner', ['rotate_secrets', 'deploy'])
def test_the_same_run_acquires_again_without_change_and_keeps_the_first_owner(lock, owner):
    before = write(lock, holder(owner='rotate_secrets'))
    result = run(dict(path=str(lock), owner=owner))
    assert result['changed'] is False and not result.get('failed')
    assert 'already held by this run' in result['msg']
    assert lock.read_bytes() == before


def test_a_live_run_on_this_host_refuses_naming_the_holder_and_what_to_do(lock):
    live = os.getpid()  # this test process is alive
    before = write(lock, holder(pid=live, owner='deploy'))
    result = run(dict(path=str(lock), owner='rotate_secrets'))
    assert result['failed'] is True and result['changed'] is False
    for part in ('deploy', 'pid %d' % live, 'host %s' % HOST, 'user alice', 'since 2026-11-30T11:00:00Z',
                 str(lock), 'Wait for it to finish', 'remove %s' % lock):
        assert part in result['msg'], part
    assert lock.read_bytes() == before


def test_a_dead_run_on_this_host_is_taken_over_with_a_warning(lock):
    gone = dead_pid()
    write(lock, holder(pid=gone, owner='deploy'))
    result = run(dict(path=str(lock), owner='rotate_secrets'))
    assert result['changed'] is True and not result.get('failed')
    assert result['taken_over']['pid'] == gone and result['taken_over']['owner'] == 'deploy'
    assert len(result['warnings']) == 1
    assert 'pid %d' % gone in result['warnings'][0] and 'deploy' in result['warnings'][0]
    assert 'no longer running' in result['warnings'][0]
    content = json.loads(lock.read_text())
    assert content['pid'] == ME and content['owner'] == 'rotate_secrets'


def test_a_zombie_counts_as_dead():
    child = subprocess.Popen(['true'])
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            with open('/proc/%d/stat' % child.pid) as handle:
                if handle.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    break
            time.sleep(0.05)
        assert action_module.pid_alive(child.pid) is False
    finally:
        child.wait()
    assert action_module.pid_alive(os.getpid()) is True
    assert action_module.pid_alive(1) is True  # not ours (EPERM when not root): still alive


@pytest.mark.parametrize('age, stale_after, taken', [
    (3600, 21600, False),
    (21600, 21600, False),
    (21601, 21600, True),
    (120, 60, True),
])
def test_another_host_is_taken_over_only_after_stale_after(lock, age, stale_after, taken):
    started = (NOW - datetime.timedelta(seconds=age)).strftime('%Y-%m-%dT%H:%M:%SZ')
    before = write(lock, holder(pid=os.getpid(), host='ops-2.example', owner='deploy', started=started))
    result = run(dict(path=str(lock), owner='rotate_secrets', stale_after=stale_after))
    if taken:
        assert result['changed'] is True and not result.get('failed')
        assert 'ops-2.example' in result['warnings'][0] and 'stale_after (%d s)' % stale_after in result['warnings'][0]
        assert json.loads(lock.read_text())['host'] == HOST
    else:
        assert result['failed'] is True
        assert 'ops-2.example' in result['msg'] and 'remove %s' % lock in result['msg']
        assert lock.read_bytes() == before


def test_the_same_pid_on_another_host_is_another_run(lock):
    write(lock, holder(pid=ME, host='ops-2.example'))
    assert run(dict(path=str(lock), owner='rotate_secrets'))['failed'] is True


@pytest.mark.parametrize('content, problem', [
    ('', 'not JSON'),
    ('{"pid": 1', 'not JSON'),
    ('[1, 2]', 'not a JSON object'),
    (json.dumps({'host': HOST, 'started': '2026-11-30T11:00:00Z'}), 'no valid pid'),
    (json.dumps({'pid': 'x', 'host': HOST, 'started': '2026-11-30T11:00:00Z'}), 'no valid pid'),
    (json.dumps({'pid': True, 'host': HOST, 'started': '2026-11-30T11:00:00Z'}), 'no valid pid'),
    (json.dumps({'pid': 12, 'started': '2026-11-30T11:00:00Z'}), 'no host'),
    (json.dumps({'pid': 12, 'host': HOST, 'started': 'yesterday'}), 'no valid start time'),
    ('\xff\xfe', 'not JSON'),
])
def test_a_corrupt_lock_fails_naming_the_path_and_is_never_taken(lock, content, problem):
    before = write(lock, content)
    result = run(dict(path=str(lock), owner='rotate_secrets'))
    assert result['failed'] is True
    assert str(lock) in result['msg'] and problem in result['msg'] and 'Nothing was taken' in result['msg']
    assert lock.read_bytes() == before


def test_an_unreadable_lock_fails_naming_the_path(lock):
    lock.mkdir()  # reading a directory fails with an OSError
    result = run(dict(path=str(lock), owner='rotate_secrets'))
    assert result['failed'] is True and str(lock) in result['msg']


def test_check_mode_takes_the_lock_too(lock):
    result = run(dict(path=str(lock), owner='rotate_secrets'), check_mode=True)
    assert result['changed'] is True and lock.exists()
    assert run(dict(path=str(lock), owner='rotate_secrets', state='released'), check_mode=True)['changed'] is True
    assert not lock.exists()


def test_check_mode_is_refused_while_another_run_holds_it(lock):
    write(lock, holder(pid=os.getpid(), owner='deploy'))
    assert run(dict(path=str(lock), owner='rotate_secrets'), check_mode=True)['failed'] is True


@pytest.mark.parametrize('args, named', [
    (dict(stale_after=0), 'stale_after'),
    (dict(stale_after=-5), 'stale_after'),
    (dict(owner='  '), 'owner'),
])
def test_bad_options_are_named(lock, args, named):
    result = run(dict(dict(path=str(lock), owner='deploy'), **args))
    assert result['failed'] is True and result['msg'].startswith(named)
    assert not lock.exists()


# ---- release ------------------------------------------------------------------------------------

def test_release_removes_the_lock_of_this_run_and_owner(lock):
    write(lock, holder(owner='rotate_secrets'))
    result = run(dict(path=str(lock), owner='rotate_secrets', state='released'))
    assert result['changed'] is True and not lock.exists() and result['holder'] is None


@pytest.mark.parametrize('held, reason', [
    (holder(owner='rotate_secrets'), 'this run took it as rotate_secrets'),    # deploy.yml inside rotate_secrets.yml
    (holder(pid=12345, owner='deploy'), 'held by another run'),
    (holder(host='ops-2.example', owner='deploy'), 'held by another run'),
])
def test_release_leaves_a_lock_it_does_not_own(lock, held, reason):
    before = write(lock, held)
    result = run(dict(path=str(lock), owner='deploy', state='released'))
    assert result['changed'] is False and not result.get('failed')
    assert reason in result['msg']
    assert lock.read_bytes() == before


def test_release_without_a_lock_is_ok(lock, tmp_path):
    assert run(dict(path=str(lock), owner='deploy', state='released'))['changed'] is False
    missing_dir = tmp_path / 'nowhere' / 'x.lock'
    assert run(dict(path=str(missing_dir), owner='deploy', state='released'))['changed'] is False
    assert not missing_dir.parent.exists()


def test_release_leaves_a_corrupt_lock_alone(lock):
    before = write(lock, 'garbage')
    result = run(dict(path=str(lock), owner='deploy', state='released'))
    assert result['changed'] is False and not result.get('failed')
    assert lock.read_bytes() == before


def test_the_doc_stub_matches_the_argument_spec():
    doc = yaml.safe_load(module_doc.DOCUMENTATION)
    spec = action_module.ARGUMENT_SPEC
    assert set(doc['options']) == set(spec)
    for name, option in doc['options'].items():
        assert option['type'] == spec[name]['type'], name
        assert option.get('default') == spec[name].get('default'), name
        assert option.get('required', False) == spec[name].get('required', False), name
        assert option.get('choices') == spec[name].get('choices'), name
    yaml.safe_load(module_doc.EXAMPLES)
    assert set(yaml.safe_load(module_doc.RETURN)) >= {'path', 'msg', 'holder', 'taken_over'}


# ---- real ansible-playbook runs on localhost ----------------------------------------------------

# The run takes the lock, holds it until the test creates the "go" file, and gives it back.
HOLDER = '''\
- name: Take the lock
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Take the lock
      flash.connect.run_lock:
        path: "{{ lock }}"
        owner: "{{ owner }}"

%(inner)s
- name: Hold it until the test says go, then give it back
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Show who holds it now
      ansible.builtin.debug:
        msg: "HOLDER {{ (lookup('ansible.builtin.file', lock) | from_json).owner }}"

    - name: Hold it
      ansible.builtin.wait_for:
        path: "{{ go }}"
        timeout: 120
      when: go | length > 0

    - name: Give the lock back
      flash.connect.run_lock:
        path: "{{ lock }}"
        owner: "{{ owner }}"
        state: released
'''

# What deploy.yml does inside rotate_secrets.yml: its own acquire and release under another owner.
INNER = '''\
- name: Inner playbook
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Take the lock again (this run already holds it)
      flash.connect.run_lock:
        path: "{{ lock }}"
        owner: deploy

    - name: Give it back as deploy (must leave the outer lock)
      flash.connect.run_lock:
        path: "{{ lock }}"
        owner: deploy
        state: released
      register: inner_release

    - name: The outer lock is still there
      ansible.builtin.assert:
        that:
          - not inner_release.changed
          - (lookup('ansible.builtin.file', lock) | from_json).owner == owner

    - name: Tell the test the inner playbook is done
      ansible.builtin.copy:
        content: done
        dest: "{{ lock }}.inner-done"
        mode: "0600"
'''


class Runs:
    """Start ansible-playbook runs of the HOLDER playbook in one directory."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.lock = tmp_path / 'state' / 'operations.lock'
        self.go = tmp_path / 'go'
        self.inner_done = tmp_path / 'state' / 'operations.lock.inner-done'
        self.env = isolated_ansible(tmp_path, 'stdout_callback = ansible.builtin.default\n')
        self.children = []

    def book(self, inner=False):
        path = self.tmp / ('outer.yml' if inner else 'holder.yml')
        if inner:
            (self.tmp / 'inner.yml').write_text(INNER)
        path.write_text(HOLDER % {'inner': '- name: Inner\n  ansible.builtin.import_playbook: inner.yml\n'
                                  if inner else ''})
        return path

    def start(self, owner, hold=True, inner=False):
        command = [ANSIBLE_PLAYBOOK,
                   '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable,
                   '-e', 'lock=%s' % self.lock, '-e', 'owner=%s' % owner, '-e', 'go=%s' % (self.go if hold else ''),
                   str(self.book(inner))]
        child = subprocess.Popen(command, env=self.env, cwd=str(self.tmp), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        self.children.append(child)
        return child

    def run(self, owner, **kwargs):
        child = self.start(owner, hold=False, **kwargs)
        out, dummy = child.communicate(timeout=180)
        return child.returncode, out

    def held_by(self, pid, timeout=120):
        """Wait until the lock file names this pid."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if json.loads(self.lock.read_text())['pid'] == pid:
                    return json.loads(self.lock.read_text())
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError('the lock never named pid %d' % pid)

    def close(self):
        self.go.touch()  # lets every holder (and a killed run's orphaned worker) finish
        for child in self.children:
            if child.poll() is None:
                try:
                    child.communicate(timeout=180)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.communicate()


@pytest.fixture
def runs(tmp_path):
    made = Runs(tmp_path)
    yield made
    made.close()


def finish(child):
    out, dummy = child.communicate(timeout=180)
    return child.returncode, out


def test_two_concurrent_runs_exactly_one_fails_naming_the_holder_then_a_new_run_succeeds(runs):
    first = runs.start('rotate_secrets')
    second = runs.start('deploy')
    # The loser fails at once; the winner holds the lock until go.
    deadline = time.time() + 60
    while first.poll() is None and second.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert first.poll() is not None or second.poll() is not None, \
        'neither run was refused within 60 s: both went past the lock'
    loser, winner = (first, second) if first.poll() is not None else (second, first)
    assert winner.poll() is None, 'both runs ended: the winner should still hold the lock'
    loser_rc, loser_out = finish(loser)
    held = runs.held_by(winner.pid)
    winner_owner = 'rotate_secrets' if winner is first else 'deploy'
    assert held['owner'] == winner_owner
    assert loser_rc != 0, loser_out
    assert 'is held by %s (pid %d on host' % (winner_owner, winner.pid) in loser_out, loser_out
    assert 'Wait for it to finish' in loser_out

    runs.go.touch()
    winner_rc, winner_out = finish(winner)
    assert winner_rc == 0, winner_out
    assert not runs.lock.exists()

    # (b) once the holder finished, a new run takes the lock and gives it back
    rc, out = runs.run('rollback')
    assert rc == 0, out
    assert 'HOLDER rollback' in out
    assert not runs.lock.exists()


def test_a_killed_holder_is_taken_over_by_the_next_run_with_a_warning(runs):
    victim = runs.start('rotate_secrets')
    runs.held_by(victim.pid)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)  # reaped: the pid is gone, not a zombie
    assert json.loads(runs.lock.read_text())['pid'] == victim.pid  # it could not release

    rc, out = runs.run('deploy')
    assert rc == 0, out
    flat = ' '.join(out.split())
    assert '[WARNING]: run_lock: took over' in flat, out
    assert 'rotate_secrets (pid %d on host' % victim.pid in flat, out
    assert not runs.lock.exists()


def test_an_inner_acquire_and_release_under_another_owner_keeps_the_outer_lock(runs):
    outer = runs.start('rotate_secrets', inner=True)
    held = runs.held_by(outer.pid)
    assert held['owner'] == 'rotate_secrets'
    # Once the inner playbook gave its lock back, another run is still refused by the outer one.
    deadline = time.time() + 120
    while not runs.inner_done.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert runs.inner_done.exists(), 'the inner playbook never finished'
    rc, out = runs.run('deploy')
    assert rc != 0 and 'is held by rotate_secrets (pid %d' % outer.pid in ' '.join(out.split()), out
    runs.go.touch()
    rc, out = finish(outer)
    assert rc == 0, out
    assert 'Give it back as deploy (must leave the outer lock)' in out and 'The outer lock is still there' in out
    flat = ' '.join(out.split())
    assert 'HOLDER rotate_secrets' in flat  # HOLDER, printed after the inner release
    assert not runs.lock.exists()


def test_the_playbook_is_named_in_the_lock(runs):
    child = runs.start('deploy')
    held = runs.held_by(child.pid)
    assert held['playbook'].endswith('holder.yml')
    runs.go.touch()
    assert finish(child)[0] == 0


def test_the_holder_playbook_is_lint_clean_yaml():
    for text in (HOLDER % {'inner': ''}, INNER):
        assert isinstance(yaml.safe_load(textwrap.dedent(text)), list)


# ---- the playbooks take the lock before they read or change the stack, and give it back last ----

LOCK_PATH = "{{ operations_lock_path | default(rotation_store ~ '.lock') }}"


def _plays(name):
    with open(os.path.join(REPO, 'playbooks', name)) as handle:
        return yaml.safe_load(handle)


def _lock_tasks(play):
    return [task for task in play.get('tasks', []) if 'flash.connect.run_lock' in task]


def test_rotate_secrets_locks_before_it_reads_the_store_and_releases_in_its_last_play():
    plays = _plays('rotate_secrets.yml')
    first = plays[0]['tasks']
    names = [next(key for key in task if key.startswith(('ansible.builtin.', 'flash.connect.'))) for task in first]
    lock_at = names.index('flash.connect.run_lock')
    assert set(names[:lock_at]) == {'ansible.builtin.assert'}, 'only the pure checks come before the lock'
    acquire = first[lock_at]['flash.connect.run_lock']
    assert acquire == {'path': LOCK_PATH, 'owner': 'rotate_secrets'}
    last = plays[-1]
    assert last['hosts'] == 'localhost'
    assert [task['flash.connect.run_lock'] for task in last['tasks']] == [
        {'path': LOCK_PATH, 'owner': 'rotate_secrets', 'state': 'released'}]
    assert 'deploy.yml' in [play.get('ansible.builtin.import_playbook') for play in plays]


def test_deploy_and_rollback_lock_after_the_checks_and_release_in_the_last_play():
    plays = _plays('deploy.yml')
    # After the release, only the summary of the run in each changed host's journal.
    assert plays[-1]['ansible.builtin.import_playbook'] == 'audit_summary.yml'
    plays = plays[:-1]
    locked = [i for i, play in enumerate(plays) if _lock_tasks(play)]
    assert locked == [1, len(plays) - 1]
    assert plays[0]['name'].startswith('Check the release') and not _lock_tasks(plays[0])
    assert plays[2]['name'] == 'Plan the deploy'
    owner = "{{ 'rollback' if deploy_rollback | default(false) | bool else 'deploy' }}"
    acquire, release = _lock_tasks(plays[1])[0], _lock_tasks(plays[-1])[0]
    assert acquire['flash.connect.run_lock'] == {'path': LOCK_PATH, 'owner': owner}
    assert release['flash.connect.run_lock'] == {'path': LOCK_PATH, 'owner': owner, 'state': 'released'}
    for task in (acquire, release):
        assert task['delegate_to'] == 'localhost' and task['run_once'] is True
    rollback = _plays('rollback.yml')
    assert rollback[0]['ansible.builtin.import_playbook'] == 'deploy.yml'
    assert rollback[0]['vars']['deploy_rollback'] is True
