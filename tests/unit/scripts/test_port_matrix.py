# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The port matrix of docs/runbooks/network-and-audit.md is what the roles declare today."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
DOC = os.path.join(ROOT, 'docs', 'runbooks', 'network-and-audit.md')


def _generate(tmp_path, doc=DOC):
    out = tmp_path / 'matrix.md'
    shutil.copy(doc, str(out))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
               ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    env['PATH'] = os.pathsep.join([os.path.dirname(sys.executable), env.get('PATH', '')])
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
                             '-i', os.path.join(ROOT, 'scripts', 'port-matrix-hosts.yml'),
                             os.path.join(ROOT, 'scripts', 'port-matrix.yml'), '-e', 'port_matrix_out=%s' % out],
                            env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out.read_text()


def test_the_runbook_matrix_is_generated_from_the_roles(tmp_path):
    with open(DOC) as handle:
        committed = handle.read()
    generated = _generate(tmp_path)
    assert generated == committed, 'docs/runbooks/network-and-audit.md is stale: run ' \
        '`ansible-playbook -i scripts/port-matrix-hosts.yml scripts/port-matrix.yml`'
    # Every service role is in it, with its well-known ports.
    for row in ('| `redis` | redis | tcp | 6379, 6380 |', '| `redis-sentinel` | redis | tcp | 26379 |',
                '| `rabbitmq-clustering` | rabbitmq | tcp | 4369, 25672, 35672-35682 | group `rabbitmq` |',
                '| `proxy-https` | proxy | tcp | 443 | everyone |', '| `app-blue` | app | tcp | 3000 | group `proxy`, group `monitoring` |'):
        assert row in generated


def test_a_changed_declaration_shows_in_the_generated_matrix(tmp_path):
    # The generator reads the roles: a stale table is rewritten, not kept.
    stale = tmp_path / 'stale.md'
    with open(DOC) as handle:
        stale.write_text(handle.read().replace('| 443 | everyone |', '| 8443 | everyone |'))
    assert '| 443 | everyone |' in _generate(tmp_path, str(stale))
