# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Drive controller-side plugins the way ansible does: one harness for their tests.

``run_action`` builds the task (args, check/diff mode), a real DataLoader and Templar and a
mocked connection, runs the plugin and fails the test if the plugin talked to the target (the
controller-side plugins here must never do): only the shell plugin's helpers may be touched.
``isolated_ansible`` is the environment for a real ``ansible-playbook`` run (ANSIBLE_PLAYBOOK) that
reads this checkout as flash.connect and nothing of the user's configuration.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import os
import sys
from unittest.mock import MagicMock

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.template import Templar

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), '..', '..', '..', '..'))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def isolated_ansible(tmp_path, config='', **env):
    """Write tmp_path/ansible.cfg ([defaults] plus ``config``) and return os.environ with it,
    ANSIBLE_HOME under tmp_path, this checkout as the collection, no colours and ``env``."""
    path = tmp_path / 'ansible.cfg'
    path.write_text('[defaults]\n' + config)
    out = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_CONFIG=str(path), ANSIBLE_HOME=str(tmp_path / '.ansible'),
               ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    out.update(env)
    return out


def run_action(action_class, name, args, loader=None, check_mode=False, diff=False, task_vars=None):
    """Run ``action_class`` (an ActionModule) as task ``name`` with ``args``; return its result."""
    loader = loader or DataLoader()
    task = MagicMock()
    task.args = copy.deepcopy(args)
    task.check_mode = check_mode
    task.diff = diff
    task.async_val = 0
    task.action = name
    connection = MagicMock()
    action = action_class(task=task, connection=connection, play_context=PlayContext(), loader=loader,
                          templar=Templar(loader=loader), shared_loader_obj=None)
    result = action.run(task_vars=task_vars or {})
    assert all(call[0].startswith('_shell') for call in connection.method_calls), \
        'the plugin must never talk to the target: %s' % connection.method_calls
    return result
