# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The four provisioned Grafana dashboards (roles/monitoring/files/dashboards): structure (uids,
panel ids, titles), one datasource (the ${DS_PROMETHEUS} variable, nothing hard-coded), every
variable a query uses defined, every panel a query; every query parses as PromQL (promtool, on the
query as the tests run it), and every recording rule a query reads exists in files/rules.
molecule/monitoring's verify then runs each query against a real Prometheus."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.flash.connect.tests.unit.monitoring import dashboards as dash

RULES_DIR = os.path.join(dash.REPO, 'roles', 'monitoring', 'files', 'rules')
TEMPLATES_DIR = os.path.join(dash.REPO, 'roles', 'monitoring', 'templates')
FILES = dash.dashboard_files()
DS = {'type': 'prometheus', 'uid': '${DS_PROMETHEUS}'}
EXPECTED_UIDS = {'flash-operational', 'flash-performance', 'flash-business', 'flash-executive'}


def ids(path):
    return os.path.basename(path)


def recorded_names():
    names = set()
    for path in glob.glob(os.path.join(RULES_DIR, '*.rules.yml')):
        with open(path, encoding='utf-8') as handle:
            doc = yaml.safe_load(handle)
        names.update(rule['record'] for group in doc['groups'] for rule in group['rules'] if 'record' in rule)
    # The one templated rule file records nothing the dashboards read; checked anyway by name.
    with open(os.path.join(TEMPLATES_DIR, 'disk.rules.yml.j2'), encoding='utf-8') as handle:
        names.update(re.findall(r'record:\s*(\S+)', handle.read()))
    return names


def walk(node, path=''):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + '/' + key, key, value
            yield from walk(value, path + '/' + key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, '%s[%d]' % (path, index))


def test_the_four_dashboards_with_unique_uids_and_titles():
    docs = [dash.load(path) for path in FILES]
    uids = [doc.get('uid') for doc in docs]
    titles = [doc.get('title') for doc in docs]
    assert set(uids) == EXPECTED_UIDS and len(uids) == len(set(uids)), uids
    assert all(titles) and len(titles) == len(set(titles)), titles


@pytest.mark.parametrize('path', FILES, ids=ids)
def test_panels_have_unique_ids_titles_and_queries(path):
    doc = dash.load(path)
    panels = list(dash.panels(doc))
    panel_ids = [panel.get('id') for panel in panels]
    assert all(isinstance(pid, int) for pid in panel_ids) and len(panel_ids) == len(set(panel_ids)), panel_ids
    for panel in panels:
        assert panel.get('title'), 'panel %s has no title' % panel.get('id')
        if panel.get('type') == 'row':
            continue
        assert panel.get('datasource') == DS, '%s: datasource %r' % (panel['title'], panel.get('datasource'))
        targets = panel.get('targets') or []
        assert targets, '%s has no query' % panel['title']
        refs = [target.get('refId') for target in targets]
        assert len(refs) == len(set(refs)) and all(refs), '%s: refIds %r' % (panel['title'], refs)
        for target in targets:
            assert (target.get('expr') or '').strip(), '%s %s has no expr' % (panel['title'], target.get('refId'))
            assert target.get('datasource') == DS, '%s %s: datasource %r' % (panel['title'], target.get('refId'), target.get('datasource'))


@pytest.mark.parametrize('path', FILES, ids=ids)
def test_one_datasource_variable_and_nothing_hard_coded(path):
    doc = dash.load(path)
    variables = doc['templating']['list']
    sources = [var for var in variables if var.get('type') == 'datasource']
    assert [(var['name'], var['query']) for var in sources] == [('DS_PROMETHEUS', 'prometheus')]
    for where, key, value in walk(doc):
        if key == 'datasource' and not where.startswith('/templating/list[%d]' % variables.index(sources[0])):
            assert value == DS, '%s is %r, not the ${DS_PROMETHEUS} variable' % (where, value)


@pytest.mark.parametrize('path', FILES, ids=ids)
def test_every_variable_used_is_defined(path):
    doc = dash.load(path)
    defined = {var['name'] for var in doc['templating']['list']}
    queries = [target['expr'] for panel in dash.panels(doc) for target in panel.get('targets', [])]
    queries += [var['definition'] for var in doc['templating']['list'] if var.get('type') == 'query']
    for expr in queries:
        unknown = dash.variables_used(expr) - defined - set(dash.BUILTINS)
        assert not unknown, '%s uses undefined %s' % (expr, sorted(unknown))
        # A template variable stands only in a regex matcher: "All" (and the tests' .*) then selects every series.
        for match in dash.VARIABLE.finditer(expr):
            if (match.group(1) or match.group(2)) in dash.BUILTINS:
                continue
            assert dash.VARIABLE_MATCHER.search(expr[:match.end()].rsplit(',', 1)[-1].rsplit('{', 1)[-1]), \
                '%s: $%s outside a =~ matcher' % (expr, match.group(1) or match.group(2))


def test_every_query_is_extracted_and_substituted():
    queries = dash.queries()
    total = sum(len(panel.get('targets', [])) for path in FILES for panel in dash.panels(dash.load(path)))
    assert len(queries) == total and total >= 40
    for query in queries:
        assert '$' not in query['query'], query
        assert query['series'] or 'vector(' in query['expr'], query


def test_every_recording_rule_read_exists():
    recorded = recorded_names()
    for query in dash.queries():
        for name in query['series']:
            if ':' in name:
                assert name in recorded, '%s (%s / %s) reads %s, which no rule file records' % (
                    query['dashboard'], query['title'], query['ref'], name)


def test_every_query_parses(tmp_path):
    """promtool parses each query (as the tests run it) as the expression of a recording rule: a
    syntax error or an unknown function fails here, before any Prometheus runs it."""
    promtool = shutil.which('promtool')
    assert promtool, 'promtool is missing: scripts/monitoring-tools.sh installs it (make units runs it)'
    for number, query in enumerate(dash.queries()):
        path = tmp_path / ('q%d.rules.yml' % number)
        path.write_text(yaml.safe_dump({'groups': [{'name': 'q', 'rules': [{'record': 'dashboard:query', 'expr': query['query']}]}]}))
        done = subprocess.run([promtool, 'check', 'rules', str(path)], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, '%s / %s / %s: %s\n%s' % (query['dashboard'], query['title'], query['ref'], query['expr'],
                                                               done.stdout + done.stderr)
