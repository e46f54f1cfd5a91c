# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""alertmanager.yml as the monitoring role renders it from its defaults: `amtool check-config`
accepts it, and `amtool config routes test` sends each severity/team to the receivers issue 11
names (critical -> PagerDuty + Slack, warning -> Slack, security -> security channel + email,
business -> email, the Watchdog -> the dead-man's switch). The Molecule scenario runs the same
matrix on the deployed file, with its own receivers."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess

import jinja2
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(REPO, 'roles', 'monitoring')
AMTOOL = shutil.which('amtool')

MATRIX = [
    (['alertname=Watchdog', 'severity=none', 'team=platform'], 'deadman'),
    (['alertname=FlashErrorRate', 'severity=critical', 'team=platform'], 'page'),
    (['alertname=FlashErrorRate', 'severity=warning', 'team=platform'], 'slack'),
    (['alertname=FlashOtpFailures', 'severity=critical', 'team=security'], 'security'),
    (['alertname=FlashOtpFailures', 'severity=warning', 'team=security'], 'security'),
    (['alertname=FlashLinking', 'severity=warning', 'team=business'], 'business'),
    (['alertname=Other', 'severity=info', 'team=platform'], 'slack'),
]


def load(*parts):
    with open(os.path.join(ROLE, *parts), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, 'templates')), keep_trailing_newline=True)
    env.filters['comment'] = lambda text: '#\n# %s\n#' % text
    env.filters['to_json'] = json.dumps
    env.filters['bool'] = bool
    variables = dict(load('defaults', 'main.yml'))
    variables.update({k: v for k, v in load('vars', 'main.yml').items() if '{' not in str(v)})
    variables['ansible_managed'] = 'Ansible managed'
    path = tmp_path_factory.mktemp('am') / 'alertmanager.yml'
    path.write_text(env.get_template('alertmanager.yml.j2').render(**variables))
    return str(path)


def amtool(*args):
    assert AMTOOL, 'amtool is missing: scripts/monitoring-tools.sh installs it (make units runs it)'
    return subprocess.run([AMTOOL] + list(args), capture_output=True, text=True, timeout=120, check=False)


def test_default_config_is_valid(config):
    done = amtool('check-config', config)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(config, encoding='utf-8') as handle:
        doc = yaml.safe_load(handle)
    secrets = [c for r in doc['receivers'] for kind in ('slack_configs', 'pagerduty_configs') for c in r.get(kind, [])]
    assert secrets and all('api_url' not in c and 'routing_key' not in c for c in secrets)
    assert doc['inhibit_rules'] == [{'source_matchers': ['severity="critical"'], 'target_matchers': ['severity="warning"'],
                                     'equal': ['alertname', 'instance']}]


@pytest.mark.parametrize('labels, receiver', MATRIX, ids=[' '.join(m[0]) for m in MATRIX])
def test_route(config, labels, receiver):
    done = amtool('config', 'routes', 'test', '--config.file=' + config, *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receiver


def test_receivers_have_the_issue_integrations(config):
    with open(config, encoding='utf-8') as handle:
        receivers = {r['name']: sorted(k for k in r if k.endswith('_configs')) for r in yaml.safe_load(handle)['receivers']}
    assert receivers == {
        'page': ['pagerduty_configs', 'slack_configs'],
        'slack': ['slack_configs'],
        'security': ['email_configs', 'slack_configs'],
        'business': ['email_configs'],
        'deadman': ['webhook_configs'],
    }
