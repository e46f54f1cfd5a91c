# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""nginx_reload driven through main() against a /proc of our own and a fake systemctl.

The real behaviour (a listen port held by another process passes nginx -t and fails the reload)
is proven on a real nginx by the proxy Molecule scenario; these tests pin the decisions."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os

import pytest

from ansible.module_utils import basic
from ansible_collections.flash.connect.plugins.modules import nginx_reload
from ansible_collections.flash.connect.tests.unit.plugins.loopback import FakeClock
from ansible_collections.flash.connect.tests.unit.plugins.modules.harness import patch_exits, run_main

CONFIG = '# configuration file /etc/nginx/nginx.conf:\nevents {}\n'
DIGEST = hashlib.sha256(CONFIG.encode('utf-8')).hexdigest()


class Host(object):
    """A /proc with an nginx master and its workers, a PID file, an error log and systemctl."""

    def __init__(self, root, reload_works=True, running=True):
        self.root = str(root)
        self.proc = os.path.join(self.root, 'proc')
        os.makedirs(self.proc)
        self.pid_file = os.path.join(self.root, 'nginx.pid')
        self.error_log = os.path.join(self.root, 'error.log')
        self.applied = os.path.join(self.root, 'state', 'applied.sha256')
        self.reload_works = reload_works
        self.calls = []
        self.next_pid = 200
        with open(self.error_log, 'w') as handle:
            handle.write('2026/11/30 10:00:00 [emerg] 1#1: an old failure, before this run\n')
        self.process(1, 0, 'systemd')
        if running:
            self.start()

    def process(self, pid, ppid, title, comm='nginx'):
        path = os.path.join(self.proc, str(pid))
        os.makedirs(path)
        with open(os.path.join(path, 'stat'), 'w') as handle:
            handle.write('%d (%s) S %d 1 1 0 -1\n' % (pid, comm, ppid))
        with open(os.path.join(path, 'cmdline'), 'w') as handle:
            handle.write(title + '\0')

    def retitle(self, pid, title):
        with open(os.path.join(self.proc, str(pid), 'cmdline'), 'w') as handle:
            handle.write(title + '\0')

    def spawn_workers(self, count=2):
        pids = []
        for _i in range(count):
            self.next_pid += 1
            self.process(self.next_pid, 100, 'nginx: worker process')
            pids.append(self.next_pid)
        return pids

    def start(self):
        self.process(100, 1, 'nginx: master process /usr/sbin/nginx -g daemon on; master_process on;')
        with open(self.pid_file, 'w') as handle:
            handle.write('100\n')
        self.workers = self.spawn_workers()

    def run_command(self, module, args, **_kwargs):
        self.calls.append(list(args))
        if args[:2] == ['nginx', '-T']:
            return (0, CONFIG, '') if not getattr(self, 'bad_config', False) else (1, '', 'nginx: [emerg] unknown directive "x"')
        if args[:2] == ['systemctl', 'reload']:
            if self.reload_works:
                for pid in self.workers:
                    self.retitle(pid, 'nginx: worker process is shutting down')
                self.workers = self.spawn_workers()
            else:
                with open(self.error_log, 'a') as handle:
                    handle.write('2026/11/30 10:05:00 [emerg] 100#100: bind() to 127.0.0.1:8081 failed (98: Address already in use)\n')
                    handle.write('2026/11/30 10:05:00 [notice] 100#100: try again to bind() after 500ms\n')
            return 0, '', ''
        if args[:2] == ['systemctl', 'start']:
            self.start()
            return 0, '', ''
        raise AssertionError('unexpected command %s' % args)

    def args(self, **extra):
        return dict(dict(pid_file=self.pid_file, error_log=self.error_log, applied_file=self.applied, timeout=5), **extra)

    def systemctl_calls(self):
        return [c for c in self.calls if c[0] == 'systemctl']


@pytest.fixture(autouse=True)
def exits(monkeypatch):
    patch_exits(monkeypatch)


def use(monkeypatch, host):
    clock = FakeClock()

    class FakeTime(object):
        time = staticmethod(clock)
        sleep = staticmethod(clock.sleep)
    monkeypatch.setattr(nginx_reload, 'time', FakeTime)
    monkeypatch.setattr(nginx_reload, 'PROC', host.proc)

    def run_command(self, args, **kw):
        return host.run_command(self, args, **kw)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, *a, **kw: '/usr/sbin/' + name)


def test_a_reload_that_replaces_every_worker_is_recorded(tmp_path, monkeypatch):
    host = Host(tmp_path)
    old = list(host.workers)
    use(monkeypatch, host)
    how, result = run_main(nginx_reload, host.args())
    assert how == 'exit', result
    assert result['changed'] is True
    assert result['old_workers'] == old
    assert result['new_workers'] == host.workers and not set(old) & set(result['new_workers'])
    assert result['master'] == 100
    with open(host.applied) as handle:
        assert handle.read().strip() == DIGEST


def test_a_refused_reload_fails_with_the_new_error_log_lines(tmp_path, monkeypatch):
    host = Host(tmp_path, reload_works=False)
    use(monkeypatch, host)
    how, result = run_main(nginx_reload, host.args())
    assert how == 'fail', result
    assert 'bind() to 127.0.0.1:8081 failed (98: Address already in use)' in result['msg']
    assert 'its live workers are the old ones' in result['msg']
    assert 'an old failure' not in result['msg']  # only what the log gained since the reload
    assert 'try again' not in result['msg']  # notices are not errors
    assert not os.path.exists(host.applied)


def test_current_config_already_applied_sends_nothing(tmp_path, monkeypatch):
    host = Host(tmp_path)
    os.makedirs(os.path.dirname(host.applied))
    with open(host.applied, 'w') as handle:
        handle.write(DIGEST + '\n')
    use(monkeypatch, host)
    how, result = run_main(nginx_reload, host.args(state='current'))
    assert (how, result['changed'], host.systemctl_calls()) == ('exit', False, [])


def test_current_reloads_after_a_failed_reload(tmp_path, monkeypatch):
    """The record is the last configuration proven applied: a failed reload left the older one."""
    host = Host(tmp_path)
    os.makedirs(os.path.dirname(host.applied))
    with open(host.applied, 'w') as handle:
        handle.write('0' * 64 + '\n')
    use(monkeypatch, host)
    how, result = run_main(nginx_reload, host.args(state='current'))
    assert (how, result['changed']) == ('exit', True)
    assert host.systemctl_calls() == [['systemctl', 'reload', 'nginx']]
    assert result['diff'] == {'before': 'applied: %s\n' % ('0' * 64), 'after': 'applied: %s\n' % DIGEST}


def test_check_mode_reports_and_sends_nothing(tmp_path, monkeypatch):
    host = Host(tmp_path)
    use(monkeypatch, host)
    how, result = run_main(nginx_reload, host.args(_ansible_check_mode=True))
    assert (how, result['changed'], host.systemctl_calls()) == ('exit', True, [])
    assert not os.path.exists(host.applied)


def test_a_config_nginx_cannot_read_is_not_reloaded(tmp_path, monkeypatch):
    host = Host(tmp_path)
    host.bad_config = True
    use(monkeypatch, host)
    how, result = run_main(nginx_reload, host.args())
    assert how == 'fail' and 'unknown directive' in result['msg']
    assert host.systemctl_calls() == []


def test_a_stopped_nginx_is_started_and_needs_workers(tmp_path, monkeypatch):
    host = Host(tmp_path, running=False)
    use(monkeypatch, host)
    how, result = run_main(nginx_reload, host.args())
    assert how == 'exit', result
    assert host.systemctl_calls() == [['systemctl', 'start', 'nginx']]
    assert result['master'] == 100 and len(result['new_workers']) == 2


def test_workers_of_another_master_and_odd_process_names_are_not_counted(tmp_path):
    host = Host(tmp_path)
    host.process(900, 1, 'nginx: master process other')
    host.process(901, 900, 'nginx: worker process')
    host.process(902, 100, 'nginx: cache manager process')
    host.process(903, 100, 'nginx: worker process', comm='odd) name (x')
    assert nginx_reload.live_workers(100, host.proc) == sorted(host.workers + [903])
    assert nginx_reload.master_pid(host.pid_file, host.proc) == 100
