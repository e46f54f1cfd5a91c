# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role's meta/argument_specs.yml is in step with its defaults/main.yml.

The prometheus-community ``lint_arguments_spec`` idea: a variable a user can set is declared
(type, description, the same default), nothing is declared that the role does not default or
require, and a variable that only takes a fixed set of values says so with ``choices:``.
"Fixed set" is read from the role itself: a preflight assert ``VAR in [...]`` (or
``item.FIELD in [...]``/``in _role_list`` over a loop of a declared list of dicts) is the
grammar, and the spec must state the same values.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
ROLES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'roles', '*')) if os.path.isdir(p))

# ansible's argument spec types and the Python types a default of that type may have.
TYPES = {
    'str': (str,),
    'int': (int,),
    'float': (float, int),
    'bool': (bool,),
    'list': (list,),
    'dict': (dict,),
    'path': (str,),
    'raw': (object,),
}

# `VAR in [...]` / `VAR | int in [...]` / `item.FIELD in _role_list` as a whole assert condition.
MEMBERSHIP = re.compile(
    r'^\s*(?P<subject>(?:item\.)?[a-z_][a-z0-9_]*)\s*(?:\|\s*[a-z_]+\s*)*\s+in\s+(?P<values>\[[^\]]*\]|_[a-z0-9_]+)\s*$')
LOOP_OF = re.compile(r'^\s*\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}\s*$')


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def _role(name):
    base = os.path.join(ROOT, 'roles', name)
    defaults = _load(os.path.join(base, 'defaults', 'main.yml'))
    specs = _load(os.path.join(base, 'meta', 'argument_specs.yml'))['argument_specs']
    role_vars = {}
    if os.path.exists(os.path.join(base, 'vars', 'main.yml')):
        role_vars = _load(os.path.join(base, 'vars', 'main.yml'))
    return defaults, specs, role_vars


def _walk(options, prefix=''):
    """Yield (dotted name, option) for every option and suboption."""
    for name, option in (options or {}).items():
        yield prefix + name, option
        yield from _walk(option.get('options'), prefix + name + '.')


def _tasks(name):
    """Every task (blocks flattened) of the role's task files."""
    def flatten(tasks):
        for task in tasks or []:
            if not isinstance(task, dict):
                continue
            yield task
            for key in ('block', 'rescue', 'always'):
                yield from flatten(task.get(key))
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', name, 'tasks', '*.yml'))):
        for task in flatten(_load(path) if isinstance(_load(path), list) else []):
            yield os.path.basename(path), task


def fixed_sets(name):
    """(option path, values, where) for each membership assert of the role's tasks."""
    _defaults, _specs, role_vars = _role(name)
    found = []
    for path, task in _tasks(name):
        assert_args = task.get('ansible.builtin.assert') or task.get('assert')
        if not isinstance(assert_args, dict):
            continue
        that = assert_args.get('that')
        for condition in that if isinstance(that, list) else [that]:
            match = MEMBERSHIP.match(str(condition))
            if not match:
                continue
            values = match.group('values')
            values = ast.literal_eval(values) if values.startswith('[') else role_vars.get(values)
            if not isinstance(values, list):
                continue
            subject = match.group('subject')
            if subject.startswith('item.'):
                loop = LOOP_OF.match(str(task.get('loop', '')))
                if not loop:
                    continue
                subject = loop.group(1) + '.' + subject[len('item.'):]
            found.append((subject, values, '%s: %s' % (path, condition)))
    return found


@pytest.mark.parametrize('name', ROLES)
def test_defaults_and_main_spec_have_the_same_keys(name):
    defaults, specs, _vars = _role(name)
    options = specs['main'].get('options') or {}
    undeclared = sorted(set(defaults) - set(options))
    assert not undeclared, 'roles/%s: in defaults/main.yml, not in meta/argument_specs.yml: %s' % (name, undeclared)
    # A declared variable without a default must be one the caller has to give.
    extra = sorted(k for k in set(options) - set(defaults) if not options[k].get('required'))
    assert not extra, 'roles/%s: declared but neither defaulted nor required: %s' % (name, extra)


@pytest.mark.parametrize('name', ROLES)
def test_every_option_has_type_and_description(name):
    _defaults, specs, _vars = _role(name)
    missing = []
    for entry_point, spec in specs.items():
        for path, option in _walk(spec.get('options')):
            for field in ('type', 'description'):
                if not option.get(field):
                    missing.append('%s:%s has no %s' % (entry_point, path, field))
            if option.get('type') not in TYPES:
                missing.append('%s:%s has unknown type %r' % (entry_point, path, option.get('type')))
    assert not missing, 'roles/%s: %s' % (name, '; '.join(missing))


@pytest.mark.parametrize('name', ROLES)
def test_spec_defaults_equal_defaults_main(name):
    defaults, specs, _vars = _role(name)
    wrong = []
    for key, value in defaults.items():
        option = (specs['main'].get('options') or {}).get(key)
        if option is None:
            continue
        if 'default' not in option:
            wrong.append('%s: no default in the spec (defaults/main.yml has %r)' % (key, value))
        elif option['default'] != value:
            wrong.append('%s: spec %r != defaults/main.yml %r' % (key, option['default'], value))
        elif not isinstance(value, TYPES.get(option.get('type'), (object,))) or (
                option.get('type') == 'int' and isinstance(value, bool)):
            wrong.append('%s: default %r is not a %s' % (key, value, option.get('type')))
    # Other entry points (tasks_from) restate some options: they must agree with main.
    for entry_point, spec in specs.items():
        for key, option in (spec.get('options') or {}).items():
            if entry_point != 'main' and key in defaults and 'default' in option and option['default'] != defaults[key]:
                wrong.append('%s:%s: spec %r != defaults/main.yml %r' % (entry_point, key, option['default'], defaults[key]))
    assert not wrong, 'roles/%s: %s' % (name, '; '.join(wrong))


@pytest.mark.parametrize('name', ROLES)
def test_choices_include_the_default(name):
    _defaults, specs, _vars = _role(name)
    wrong = []
    for entry_point, spec in specs.items():
        for path, option in _walk(spec.get('options')):
            if 'choices' not in option or 'default' not in option:
                continue
            # For a list, choices constrain each element (as ansible's argument spec does).
            values = option['default'] if option.get('type') == 'list' else [option['default']]
            if any(value not in option['choices'] for value in values or []):
                wrong.append('%s:%s default %r not in %r' % (entry_point, path, option['default'], option['choices']))
    assert not wrong, 'roles/%s: %s' % (name, '; '.join(wrong))


@pytest.mark.parametrize('name', ROLES)
def test_fixed_sets_are_choices(name):
    """What a preflight accepts from a fixed list is the option's `choices:` in every entry point."""
    _defaults, specs, _vars = _role(name)
    wrong = []
    for subject, values, where in fixed_sets(name):
        for entry_point, spec in specs.items():
            options = dict(_walk(spec.get('options')))
            parent = subject.rsplit('.', 1)[0] if '.' in subject else None
            if subject not in options:
                # A field of a free-form dict (no suboptions declared) has nowhere to put choices;
                # a declared parent with suboptions must declare the field.
                if parent and parent in options and options[parent].get('options'):
                    wrong.append('%s:%s is checked by "%s" but not declared' % (entry_point, subject, where))
                continue
            choices = options[subject].get('choices')
            if choices is None or sorted(map(str, choices)) != sorted(map(str, values)):
                wrong.append('%s:%s choices %r, the preflight accepts %r ("%s")' % (
                    entry_point, subject, choices, values, where))
    assert not wrong, 'roles/%s: %s' % (name, '; '.join(wrong))


def test_the_fixed_set_reader_sees_the_known_asserts():
    """The reader above must find what it exists for, or the choices test proves nothing."""
    proxy = {subject for subject, _values, _where in fixed_sets('proxy')}
    redis = {subject: values for subject, values, _where in fixed_sets('redis')}
    assert 'proxy_waf_paranoia_level' in proxy
    assert 'noeviction' in redis['redis_instances.maxmemory_policy']
