# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The alert rules in roles/monitoring/files/rules (the monitoring role ships them as they are), checked and unit-tested by promtool (Debian's prometheus
package, installed by scripts/monitoring-tools.sh), and a mutation test: every threshold moved past
the nearest test sample on either side must make promtool's tests fail."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MONITORING = os.path.join(REPO, 'monitoring')
RULES_DIR = os.path.join(REPO, 'roles', 'monitoring', 'files', 'rules')
RULES = sorted(glob.glob(os.path.join(RULES_DIR, '*.rules.yml')))
TESTS = sorted(glob.glob(os.path.join(MONITORING, 'tests', '*.test.yml')))
PROMTOOL = shutil.which('promtool')

# The plan's alert table and the SLO: (rules file, alert expression as written, test file,
# threshold moved up past the sample above it, moved down past the sample below it).
BOUNDARIES = [
    ('app', 'ratio_rate5m > 0.01', 'app', '0.0115', '0.0085'),
    ('app', 'ratio_rate5m > 0.05', 'app', '0.0515', '0.0485'),
    ('app', 'p95_rate5m > 1', 'app', '1.2', '0.5'),
    ('app', 'p95_rate5m > 3', 'app', '3.2', '2.8'),
    ('hosts', 'percent_rate5m > 70', 'hosts', '71.5', '68.5'),
    ('hosts', 'percent_rate5m > 90', 'hosts', '91.5', '88.5'),
    ('hosts', 'utilisation:percent > 70', 'hosts', '71.5', '68.5'),
    ('hosts', 'utilisation:percent > 90', 'hosts', '91.5', '88.5'),
    ('security', 'max_1h) > 5', 'security', '6', '4'),
    ('security', 'max_1h) > 10', 'security', '11', '9'),
    ('data', 'count5m > 0', 'data', '1', '-1'),
    ('data', 'count5m > 3', 'data', '4', '2'),
    ('data', 'queue_messages) > 100', 'data', '101', '99'),
    ('data', 'queue_messages) > 500', 'data', '501', '499'),
    ('data', '"frequent"}) > 420', 'backup', '481', '419'),
    ('slo', 'avg1h < 0.995', 'availability', '0.997', '0.991'),
    ('slo', 'avg1h < 0.99', 'availability', '0.992', '0.987'),
    ('slo', '> 14.4 * 0.001', 'burn', '16', '12.5'),
    ('slo', '> 6 * 0.001', 'burn', '7.5', '5'),
    ('slo', '> 3 * 0.001', 'burn', '3.6', '2.4'),
    ('slo', '> 1 * 0.001', 'burn', '1.6', '0.4'),
]


def promtool(*args, cwd=None):
    assert PROMTOOL, 'promtool is missing: scripts/monitoring-tools.sh installs it (make units runs it)'
    return subprocess.run([PROMTOOL] + list(args), cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_there_is_something_to_test():
    assert len(RULES) >= 6 and len(TESTS) >= 6


@pytest.mark.parametrize('path', RULES, ids=os.path.basename)
def test_rules_are_valid(path):
    done = promtool('check', 'rules', path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize('path', TESTS, ids=os.path.basename)
def test_rules_pass_their_unit_tests(path):
    done = promtool('test', 'rules', path)
    assert done.returncode == 0, done.stdout + done.stderr


def alert_exprs(path):
    with open(path, encoding='utf-8') as handle:
        doc = yaml.safe_load(handle)
    return [rule['expr'] for group in doc['groups'] for rule in group['rules'] if 'alert' in rule]


def test_every_threshold_in_the_rules_has_a_boundary_test():
    """No threshold without a row above: a new alert comes with its boundary tests."""
    covered = {(row[0], row[1]) for row in BOUNDARIES}
    for path in RULES:
        name = os.path.basename(path).split('.')[0]
        for expr in alert_exprs(path):
            for found in re.finditer(r'[<>] [0-9.]+(?: \* 0\.001)?', expr):
                assert any(rules == name and found.group(0) in fragment and fragment in expr
                           for rules, fragment in covered), 'no boundary test for %r in %s' % (found.group(0), name)


@pytest.mark.parametrize('rules, fragment, tests, up, down', BOUNDARIES,
                         ids=['%s: %s' % (b[0], b[1]) for b in BOUNDARIES])
def test_moving_a_threshold_fails_its_tests(tmp_path, rules, fragment, tests, up, down):
    source = os.path.join(RULES_DIR, rules + '.rules.yml')
    with open(source, encoding='utf-8') as handle:
        text = handle.read()
    assert text.count(fragment) >= 1, fragment
    number = re.search(r'[<>] ([0-9.]+)', fragment).group(1)
    # The same layout as the repository: the tests name their rules by relative path.
    shutil.copytree(os.path.join(MONITORING, 'tests'), str(tmp_path / 'monitoring' / 'tests'))
    copied = tmp_path / 'roles' / 'monitoring' / 'files' / 'rules'
    shutil.copytree(RULES_DIR, str(copied))
    for moved in (up, down):
        mutated = text.replace(fragment, fragment.replace(number, moved, 1))
        assert mutated != text
        (copied / (rules + '.rules.yml')).write_text(mutated)
        done = promtool('test', 'rules', tests + '.test.yml', cwd=str(tmp_path / 'monitoring' / 'tests'))
        assert done.returncode != 0, 'moving %r to %s left %s.test.yml passing' % (fragment, moved, tests)
