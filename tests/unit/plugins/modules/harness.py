# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every module test needs: exit_json/fail_json turned into exceptions the test catches."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def patch_exits(monkeypatch):
    """Make AnsibleModule.exit_json raise ExitJson and fail_json raise FailJson (with the result)."""
    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)


def run_main(module, args):
    """Run ``module.main()`` with ``args`` (exits patched): ('exit' or 'fail', the result)."""
    with patch_module_args(args):
        try:
            module.main()
        except ExitJson as exc:
            return 'exit', exc.args[0]
        except FailJson as exc:
            return 'fail', exc.args[0]
    raise AssertionError('the module neither exited nor failed')
