# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one templated rule file, roles/monitoring/templates/disk.rules.yml.j2 (FlashHostDisk, whose
thresholds are role variables): rendered with the defaults and with other thresholds, it passes
`promtool check rules`, and `promtool test rules` puts a filesystem one point below and one point
above each threshold: below fires nothing at that level, above fires it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import subprocess

import jinja2
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(REPO, 'roles', 'monitoring')
PROMTOOL = shutil.which('promtool')


def defaults():
    with open(os.path.join(ROLE, 'defaults', 'main.yml'), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def render(warning, critical):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, 'templates')), keep_trailing_newline=True)
    env.filters['comment'] = lambda text: '#\n# %s\n#' % text
    return env.get_template('disk.rules.yml.j2').render(
        ansible_managed='Ansible managed', monitoring_disk_usage_warning_percent=warning,
        monitoring_disk_usage_critical_percent=critical)


def promtool(*args, cwd=None):
    assert PROMTOOL, 'promtool is missing: scripts/monitoring-tools.sh installs it (make units runs it)'
    return subprocess.run([PROMTOOL] + list(args), cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def unit_test(warning, critical):
    """Four filesystems (size 1000) used at warning-1, warning+1, critical-1, critical+1 percent."""
    used = {'below-warning': warning - 1, 'above-warning': warning + 1,
            'below-critical': critical - 1, 'above-critical': critical + 1}
    series = [{'series': 'node_filesystem_size_bytes{instance="%s",mountpoint="/",fstype="ext4"}' % name, 'values': '1000x20'}
              for name in used]
    series += [{'series': 'node_filesystem_avail_bytes{instance="%s",mountpoint="/",fstype="ext4"}' % name,
                'values': '%gx20' % (1000 - 10 * percent)} for name, percent in used.items()]
    levels = {'below-warning': [], 'above-warning': ['warning'], 'below-critical': ['warning'],
              'above-critical': ['critical', 'warning']}
    samples = [{'labels': '{instance="%s",severity="%s"}' % (name, level), 'value': 1}
               for name, found in sorted(levels.items()) for level in found]
    return {
        'rule_files': ['disk.rules.yml'],
        'evaluation_interval': '1m',
        'tests': [{
            'interval': '1m',
            'input_series': series,
            'promql_expr_test': [{
                'expr': 'count by (instance, severity) (ALERTS{alertname="FlashHostDisk",alertstate="firing"})',
                'eval_time': '15m',
                'exp_samples': samples,
            }],
        }],
    }


@pytest.mark.parametrize('warning, critical', [(None, None), (70, 85), (50.5, 95)], ids=['defaults', '70-85', '50.5-95'])
def test_disk_rule_fires_above_each_threshold_only(tmp_path, warning, critical):
    if warning is None:
        warning = defaults()['monitoring_disk_usage_warning_percent']
        critical = defaults()['monitoring_disk_usage_critical_percent']
    (tmp_path / 'disk.rules.yml').write_text(render(warning, critical))
    (tmp_path / 'disk.test.yml').write_text(yaml.safe_dump(unit_test(warning, critical)))
    checked = promtool('check', 'rules', 'disk.rules.yml', cwd=str(tmp_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    done = promtool('test', 'rules', 'disk.test.yml', cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
