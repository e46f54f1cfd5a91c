# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read the provisioned Grafana dashboards (roles/monitoring/files/dashboards/*.json): every panel
query, the same query with Grafana's variables substituted so Prometheus can run it, and the series
names it reads. Used by tests/unit/monitoring/test_dashboards.py and, as a script printing JSON, by
molecule/monitoring's verify, which runs every query against the scenario's Prometheus."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DASHBOARDS_DIR = os.path.join(REPO, 'roles', 'monitoring', 'files', 'dashboards')

# Grafana's built-in interval variables and what a test substitutes for them.
BUILTINS = {'__rate_interval': '1m', '__interval': '1m', '__range': '1h'}
VARIABLE = re.compile(r'\$(?:\{(\w+)(?::\w+)?\}|(\w+))')
# Template variables must only stand where a regex matches (=~ / !~): substituted by .* they then
# select every series, as "All" does in Grafana.
VARIABLE_MATCHER = re.compile(r'=~\s*"[^"]*\$')
PROMQL_WORDS = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless',
                'offset', 'inf', 'nan', 'atan2'}


def dashboard_files(directory=DASHBOARDS_DIR):
    return sorted(glob.glob(os.path.join(directory, '*.json')))


def load(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def panels(doc):
    """Every panel, rows' nested panels included."""
    for panel in doc.get('panels', []):
        yield panel
        yield from panel.get('panels', [])


def substitute(expr):
    """The query as a test runs it: template variables -> .*, Grafana's intervals -> fixed durations."""
    def repl(match):
        name = match.group(1) or match.group(2)
        return BUILTINS.get(name, '.*')
    return VARIABLE.sub(repl, expr)


def variables_used(expr):
    return {m.group(1) or m.group(2) for m in VARIABLE.finditer(expr)}


def series_names(expr):
    """The metric and recording-rule names a query reads (not functions, labels, keywords or numbers)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                      # string literals
    text = re.sub(r'\{[^}]*\}', '', text)                                # label matchers
    text = re.sub(r'\[[^\]]*\]', '', text)                               # range selectors
    text = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', '', text)  # label lists
    names = set()
    for match in re.finditer(r'(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()', text):
        word = match.group(1)
        if word.lower() not in PROMQL_WORDS:
            names.add(word)
    return sorted(names)


def queries(directory=DASHBOARDS_DIR):
    """[{dashboard, uid, panel, title, ref, expr, query, series}] for every target with an expr."""
    found = []
    for path in dashboard_files(directory):
        doc = load(path)
        for panel in panels(doc):
            for target in panel.get('targets', []):
                expr = target.get('expr', '')
                found.append({'dashboard': os.path.basename(path), 'uid': doc.get('uid'), 'panel': panel.get('id'),
                              'title': panel.get('title'), 'ref': target.get('refId'), 'expr': expr,
                              'query': substitute(expr), 'series': series_names(expr)})
    return found


if __name__ == '__main__':
    json.dump(queries(sys.argv[1] if len(sys.argv) > 1 else DASHBOARDS_DIR), sys.stdout)
