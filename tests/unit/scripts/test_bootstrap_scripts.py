# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bootstrap scripts stop early, with a message that names the problem, on a bad machine."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
SCRIPTS = os.path.join(ROOT, 'scripts')


def _fake(bindir, name, body):
    path = os.path.join(str(bindir), name)
    with open(path, 'w') as handle:
        handle.write('#!/bin/sh\n' + body + '\n')
    os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


@pytest.fixture
def no_engine():
    """A PATH where `docker info` fails and a `dockerd` exists but dies at once.

    The directory is world-readable so that the fakes also win for the unprivileged user.
    """
    base = tempfile.mkdtemp(prefix='flash-fake-engine-')
    os.chmod(base, 0o755)
    bindir = os.path.join(base, 'bin')
    os.mkdir(bindir, 0o755)
    _fake(bindir, 'docker', 'echo "Cannot connect to the Docker daemon" >&2; exit 1')
    _fake(bindir, 'dockerd', 'echo "failed to start daemon: operation not permitted" >&2; exit 1')
    _fake(bindir, 'containerd', 'echo "containerd: failed to load plugin: permission denied" >&2; exit 1')
    _fake(bindir, 'ctr', 'exit 1')
    _fake(bindir, 'pgrep', 'exit 1')
    env = dict(os.environ, PATH='%s:/usr/bin:/bin:/usr/sbin:/sbin' % bindir, DOCKER_WAIT='2', ENGINE_TRIES='2',
               DOCKERD_LOG=os.path.join(base, 'dockerd.log'), CONTAINERD_LOG=os.path.join(base, 'containerd.log'),
               FAKE_BIN=bindir)
    yield env
    shutil.rmtree(base, ignore_errors=True)


def _run(argv, env, user=None):
    if user is not None:
        setpriv = shutil.which('setpriv')
        if setpriv is None or os.geteuid() != 0:
            pytest.fail('this test runs as root with setpriv (util-linux) to drop to another user')
        argv = [setpriv, '--reuid=%d' % user, '--regid=%d' % user, '--clear-groups'] + argv
    return subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, check=False)


def _real_daemons():
    """The pids of the machine's own dockerd and containerd (the fakes never match: they are sh)."""
    found = subprocess.run(['ps', '-eo', 'pid=,comm='], stdout=subprocess.PIPE, universal_newlines=True, check=False).stdout
    return sorted(line.split()[0] for line in found.splitlines() if line.split()[1:] in (['dockerd'], ['containerd']))


def test_containerd_that_will_not_start_is_named_and_retried(no_engine):
    if os.geteuid() != 0:
        pytest.fail('run as root: the engine bootstrap is a root-only step')
    before = _real_daemons()
    result = _run(['bash', os.path.join(SCRIPTS, 'docker-engine.sh')], no_engine)
    assert result.returncode == 5, result.stderr
    assert 'containerd did not answer on /run/containerd/containerd.sock within 2s' in result.stderr
    assert 'failed to load plugin: permission denied' in result.stderr  # containerd's own words are shown
    assert 'start 2 of 2' in result.stderr
    assert 'did not answer after 2 starts of 2s each' in result.stderr
    # CI stop 22 lesson: a failed start stops only what it started, never the machine's own engine.
    assert _real_daemons() == before


def test_dockerd_that_will_not_start_is_named(no_engine):
    if os.geteuid() != 0:
        pytest.fail('run as root: the engine bootstrap is a root-only step')
    _fake(no_engine['FAKE_BIN'], 'ctr', 'exit 0')  # containerd answers; dockerd dies at once
    before = _real_daemons()
    result = _run(['bash', os.path.join(SCRIPTS, 'docker-engine.sh')], no_engine)
    assert result.returncode == 5, result.stderr
    assert 'dockerd did not answer within 2s' in result.stderr
    assert 'failed to start daemon' in result.stderr  # the engine's own words are shown
    assert 'starting containerd' not in result.stderr  # the containerd that answers is used as is
    assert _real_daemons() == before


def test_engine_bootstrap_refuses_non_root(no_engine):
    result = _run(['bash', os.path.join(SCRIPTS, 'docker-engine.sh')], no_engine, user=65534)
    assert result.returncode == 3, result.stderr
    assert 'run as root' in result.stderr


def test_preflight_refuses_non_root(no_engine):
    result = _run(['bash', os.path.join(SCRIPTS, 'preflight.sh'), 'lab'], no_engine, user=65534)
    assert result.returncode == 3, result.stderr
    assert "'make lab' needs root" in result.stderr


def test_preflight_accepts_root(no_engine):
    if os.geteuid() != 0:
        pytest.fail('run as root')
    result = _run(['bash', os.path.join(SCRIPTS, 'preflight.sh'), 'test'], no_engine)
    assert result.returncode == 0, result.stderr
    assert 'ok: root' in result.stderr
