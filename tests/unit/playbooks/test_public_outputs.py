# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The playbooks read what the roles publish, one source per fact.

- A playbook (anything under playbooks/, tasks/ and vars/ included) reads another host's
  ``__private`` name through ``hostvars`` only when that same file sets it (``register:``,
  ``set_fact`` or ``vars:`` key): a role's or another file's private name is not an interface;
  the roles publish ``<role>_*`` facts (each role README, "Facts it publishes").
- A playbook does not restate a role's default: ``VAR | default(LITERAL)`` where some
  roles/*/defaults/main.yml defaults VAR to that same literal. It reads the role's own value
  (``include_role`` with ``public: true``, or a fact the role publishes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

# hostvars[...].__name, hostvars[...]['__name'], map('extract', hostvars, '__name') or ['__name', ...]
HOSTVARS_READS = (
    re.compile(r"hostvars\[(?:[^\[\]]|\[[^\[\]]*\])*\]\s*(?:\.|\[\s*['\"])(__[a-z0-9_]+)"),
    re.compile(r"map\(\s*'extract'\s*,\s*hostvars\s*,\s*\[?\s*['\"](__[a-z0-9_]+)['\"]"),
)
# Names a file sets itself: a YAML key (set_fact, vars) or a register.
SETS = (
    re.compile(r"^\s*-?\s*(__[a-z0-9_]+)\s*:", re.M),
    re.compile(r"\bregister:\s*(__[a-z0-9_]+)"),
)
# VAR | default(LITERAL): a quoted string, a number, a boolean, or a flat list or dict.
DEFAULTED = re.compile(
    r"\b([a-z_][a-z0-9_]*)\s*\|\s*default\(\s*"
    r"('[^']*'|\"[^\"]*\"|-?[0-9][0-9.]*|true|false|True|False|\[[^\[\]()]*\]|\{[^{}()]*\})"
    r"\s*[,)]")


# Left to do, each with its reason; an entry here that no longer restates fails the test.
PENDING = {
    ('playbooks/validate_inventory.yml', 'app_replicas'):
        "a proxy host checks the app hosts' replicas through hostvars before any role ran; "
        'the app role publishes no fact for it yet',
}


def _playbook_files():
    return sorted(glob.glob(os.path.join(ROOT, 'playbooks', '**', '*.yml'), recursive=True))


def _role_defaults():
    """Variable -> [(role, default)] over every roles/*/defaults/main.yml."""
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'defaults', 'main.yml'))):
        role = path.split(os.sep)[-3]
        with open(path) as handle:
            for name, value in (yaml.safe_load(handle) or {}).items():
                out.setdefault(name, []).append((role, value))
    return out


def _literal(text):
    text = {'true': 'True', 'false': 'False'}.get(text, text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _same(default, literal):
    if isinstance(default, bool) or isinstance(literal, bool):
        return default is literal
    return default == literal


def private_hostvars_reads(text):
    """The __names read through hostvars that the file does not set itself."""
    own = set()
    for pattern in SETS:
        own.update(pattern.findall(text))
    read = set()
    for pattern in HOSTVARS_READS:
        read.update(pattern.findall(text))
    return sorted(read - own)


def restated_defaults(text, defaults):
    """(line, variable, literal, role) for each `VAR | default(LITERAL)` equal to a role default."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in DEFAULTED.finditer(line):
            name, literal = match.groups()
            for role, default in defaults.get(name, []):
                if _same(default, _literal(literal)):
                    found.append((number, name, literal, role))
    return found


def _rel(path):
    return os.path.relpath(path, ROOT)


def test_the_rules_catch_what_they_are_about():
    text = ("x: \"{{ hostvars[groups['proxy'][0]].__proxy_live_colour }}\"\n"
            "y: \"{{ groups['app'] | map('extract', hostvars, '__app_config_hash') | list }}\"\n"
            "z: \"{{ hostvars['localhost'].__own }}\"\n"
            "__own: 1\n"
            "u: \"{{ redis_app_user | default('flash-app') }}\"\n"
            "v: \"{{ redis_app_user | default('someone-else') }}\"\n")
    assert private_hostvars_reads(text) == ['__app_config_hash', '__proxy_live_colour']
    assert restated_defaults(text, {'redis_app_user': [('redis', 'flash-app')]}) == [
        (5, 'redis_app_user', "'flash-app'", 'redis')]


def test_playbooks_read_no_private_name_through_hostvars():
    failures = []
    for path in _playbook_files():
        with open(path) as handle:
            names = private_hostvars_reads(handle.read())
        failures.extend('%s reads %s through hostvars but does not set it (read the role\'s public fact)'
                        % (_rel(path), name) for name in names)
    assert not failures, '\n'.join(failures)


def test_playbooks_restate_no_role_default():
    defaults = _role_defaults()
    failures = []
    pending_seen = set()
    for path in _playbook_files():
        with open(path) as handle:
            found = restated_defaults(handle.read(), defaults)
        for number, name, literal, role in found:
            if (_rel(path), name) in PENDING:
                pending_seen.add((_rel(path), name))
                continue
            failures.append('%s:%d: %s | default(%s) restates the %s role\'s default (read the role\'s own value)'
                            % (_rel(path), number, name, literal, role))
    failures.extend('%s: %s no longer restates its default: take it off PENDING' % key
                    for key in sorted(set(PENDING) - pending_seen))
    assert not failures, '\n'.join(failures)
