# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role's meta/argument_specs.yml is in step with its defaults/main.yml.

The prometheus-community ``lint_arguments_spec`` idea, per role and entry point: a variable a
user can set is declared (type, description, the same default) in the entry point whose tasks
use it, nothing is declared that the role does not default or require, the default's Python
type is the declared type, an entry point that restates an option of ``main`` says the same
thing, and a variable that only takes a fixed set of values says so with ``choices:``.
"Fixed set" is read from the role itself: a preflight assert ``VAR in [...]`` (or
``item.FIELD in [...]``/``in _role_list`` over a loop of a declared list of dicts) is the
grammar, and the spec must state the same values. Options named like an enumeration
(``*_policy``, ``*_mode``, ``*_type``...) need ``choices:`` or a stated reason in FREE_FORM.
Private ``_role_*`` values in vars/ are out of scope (they are not arguments).
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

# Names that usually mean "one of a few values"; such an option has `choices:` or is listed here
# with the reason its values are open.
ENUM_SUFFIXES = ('_policy', '_mode', '_type', '_level', '_state', '_strategy', '_profile', '_source',
                 '_handling', '_format', '_method', '_engine', '_driver', '_protocol')
FREE_FORM = {
    ('app', 'app_network_mode'): "'', 'host' or 'container:<name>' (preflight regex), an open set",
    ('proxy', 'proxy_referrer_policy'): 'a comma-separated Referrer-Policy fallback list (preflight regex)',
}

# `VAR in [...]` / `VAR | int in [...]` / `item.FIELD in _role_list` as a whole assert condition.
MEMBERSHIP = re.compile(
    r'^\s*(?P<subject>(?:item\.)?[a-z_][a-z0-9_]*)\s*(?:\|\s*[a-z_]+\s*)*\s+in\s+(?P<values>\[[^\]]*\]|_[a-z0-9_]+)\s*$')
LOOP_OF = re.compile(r'^\s*\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}\s*$')
IDENTIFIER = re.compile(r'\b([a-z][a-z0-9_]*)\b')
JINJA_COMMENT = re.compile(r'\{#.*?#\}', re.S)
INCLUDES = ('ansible.builtin.include_tasks', 'ansible.builtin.import_tasks', 'include_tasks', 'import_tasks')
TEMPLATES = ('ansible.builtin.template', 'template')


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


ENTRY_POINTS = [(name, entry_point) for name in ROLES for entry_point in _role(name)[1]]
ENTRY_POINT_IDS = ['%s:%s' % pair for pair in ENTRY_POINTS]
per_entry_point = pytest.mark.parametrize('name,entry_point', ENTRY_POINTS, ids=ENTRY_POINT_IDS)


def _options(name, entry_point):
    return _role(name)[1][entry_point].get('options') or {}


def _walk(options, prefix=''):
    """Yield (dotted name, option) for every option and suboption."""
    for name, option in (options or {}).items():
        yield prefix + name, option
        yield from _walk(option.get('options'), prefix + name + '.')


def _is_jinja(value):
    return isinstance(value, str) and '{{' in value


def _type_error(value, option):
    """Why ``value`` is not a default of ``option``'s declared type (None when it is)."""
    kind, elements = option.get('type', 'str'), option.get('elements')
    if _is_jinja(value) or kind not in TYPES:
        return None   # templated at run time / reported by the type test
    if isinstance(value, bool) and kind in ('int', 'float'):
        return '%r is a bool, not a %s' % (value, kind)
    if not isinstance(value, TYPES[kind]):
        return '%r is a %s, not a %s' % (value, type(value).__name__, kind)
    if kind == 'list' and elements in TYPES:
        for element in value:
            reason = _type_error(element, {'type': elements})
            if reason:
                return 'element %s' % reason
    return None


def _flatten(tasks):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from _flatten(task.get(key))


def _tasks(name):
    """Every task (blocks flattened) of the role's task files."""
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', name, 'tasks', '*.yml'))):
        loaded = _load(path)
        for task in _flatten(loaded if isinstance(loaded, list) else []):
            yield os.path.basename(path), task


def _strings(node):
    """Every string of a loaded YAML document (keys and values): comments are gone."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif node is not None:
        yield str(node)


def used_names(name, entry_point):
    """Identifiers the entry point's tasks can read: tasks/<entry_point>.yml, the task files it
    includes or imports, the templates they render and the vars/main.yml values those name."""
    base = os.path.join(ROOT, 'roles', name)
    _defaults, _specs, role_vars = _role(name)
    names, seen = set(), set()
    pending = [entry_point + '.yml']
    while pending:
        file_name = pending.pop()
        path = os.path.join(base, 'tasks', file_name)
        if file_name in seen or not os.path.exists(path):
            continue
        seen.add(file_name)
        loaded = _load(path)
        for text in _strings(loaded):
            names.update(IDENTIFIER.findall(text))
        for task in _flatten(loaded if isinstance(loaded, list) else []):
            for key in INCLUDES:
                target = task.get(key)
                target = target.get('file') if isinstance(target, dict) else target
                if isinstance(target, str) and not _is_jinja(target):
                    pending.append(target)
            for key in TEMPLATES:
                args = task.get(key)
                src = args.get('src') if isinstance(args, dict) else None
                template = os.path.join(base, 'templates', src) if isinstance(src, str) else ''
                if os.path.isfile(template):
                    with open(template) as handle:
                        names.update(IDENTIFIER.findall(JINJA_COMMENT.sub('', handle.read())))
    # Derived values: a task reading _role_x reads whatever _role_x is made of.
    pending = [n for n in names if n in role_vars]
    while pending:
        private = pending.pop()
        for found in IDENTIFIER.findall(' '.join(_strings(role_vars[private]))):
            if found not in names:
                names.add(found)
                if found in role_vars:
                    pending.append(found)
    return names


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


@per_entry_point
def test_entry_point_declares_the_defaults_it_uses(name, entry_point):
    """A default is an option of `main`, or of the entry point whose tasks use it (and of every
    entry point whose tasks use it: tasks_from validates against that entry point only)."""
    defaults, specs, _vars = _role(name)
    declared = _options(name, entry_point)
    used = used_names(name, entry_point)
    if entry_point == 'main':
        elsewhere = {key for other in specs if other != 'main'
                     for key in _options(name, other) if key in used_names(name, other)}
        wanted = [key for key in defaults if key in used or key not in elsewhere]
    else:
        wanted = [key for key in defaults if key in used]
    missing = sorted(key for key in wanted if key not in declared)
    assert not missing, 'roles/%s entry point %s: in defaults/main.yml, not an option in meta/argument_specs.yml: %s' % (
        name, entry_point, ', '.join(missing))


@per_entry_point
def test_every_option_is_defaulted_or_required(name, entry_point):
    """A declared variable without a defaults/main.yml value must be one the caller has to give
    (a spec `default:` alone sets nothing: ansible only documents it)."""
    defaults, _specs, _vars = _role(name)
    options = _options(name, entry_point)
    extra = sorted(key for key, option in options.items() if key not in defaults and not option.get('required'))
    assert not extra, 'roles/%s entry point %s: declared but neither in defaults/main.yml nor required: %s' % (
        name, entry_point, ', '.join(extra))


@per_entry_point
def test_every_option_has_type_and_description(name, entry_point):
    spec = _role(name)[1][entry_point]
    missing = [] if spec.get('short_description') else ['the entry point has no short_description']
    for path, option in _walk(spec.get('options')):
        for field in ('type', 'description'):
            if not option.get(field):
                missing.append('%s has no %s' % (path, field))
        if option.get('type') not in TYPES:
            missing.append('%s has unknown type %r' % (path, option.get('type')))
        if 'elements' in option and (option.get('type') != 'list' or option['elements'] not in TYPES):
            missing.append('%s: elements %r on a %s' % (path, option['elements'], option.get('type')))
        if option.get('type') == 'list' and 'elements' not in option:
            missing.append('%s is a list without elements' % path)
    assert not missing, 'roles/%s entry point %s: %s' % (name, entry_point, '; '.join(missing))


@per_entry_point
def test_spec_defaults_equal_defaults_main(name, entry_point):
    """Compared as loaded: a Jinja default is compared as the string it is."""
    defaults, _specs, _vars = _role(name)
    wrong = []
    for key, option in _options(name, entry_point).items():
        if key not in defaults:
            continue
        if 'default' not in option:
            wrong.append('%s: no default in the spec (defaults/main.yml has %r)' % (key, defaults[key]))
        elif option['default'] != defaults[key] or type(option['default']) is not type(defaults[key]):
            wrong.append('%s: spec %r != defaults/main.yml %r' % (key, option['default'], defaults[key]))
    assert not wrong, 'roles/%s entry point %s: %s' % (name, entry_point, '; '.join(wrong))


@per_entry_point
def test_defaults_have_the_declared_type(name, entry_point):
    """defaults/main.yml values and spec defaults (suboptions too) are of the declared type and
    elements; Jinja strings are templated at run time and not judged here."""
    defaults, _specs, _vars = _role(name)
    wrong = []
    for path, option in _walk(_options(name, entry_point)):
        if 'default' in option:
            reason = _type_error(option['default'], option)
            if reason:
                wrong.append('%s: spec default %s' % (path, reason))
        if path in defaults:
            reason = _type_error(defaults[path], option)
            if reason:
                wrong.append('%s: defaults/main.yml %s' % (path, reason))
    assert not wrong, 'roles/%s entry point %s: %s' % (name, entry_point, '; '.join(wrong))


@per_entry_point
def test_restated_options_agree_with_main(name, entry_point):
    """An option another entry point restates is the same variable: same type, elements, choices."""
    main = _options(name, 'main')
    wrong = []
    for key, option in _options(name, entry_point).items():
        if entry_point == 'main' or key not in main:
            continue
        for field in ('type', 'elements', 'choices', 'default', 'no_log'):
            if option.get(field) != main[key].get(field):
                wrong.append('%s: %s %r, main says %r' % (key, field, option.get(field), main[key].get(field)))
    assert not wrong, 'roles/%s entry point %s: %s' % (name, entry_point, '; '.join(wrong))


@per_entry_point
def test_choices_include_the_default(name, entry_point):
    defaults, _specs, _vars = _role(name)
    wrong = []
    for path, option in _walk(_options(name, entry_point)):
        if 'choices' not in option:
            continue
        for source, value in (('spec', option.get('default')), ('defaults/main.yml', defaults.get(path))):
            if value is None or _is_jinja(value):
                continue
            # For a list, choices constrain each element (as ansible's argument spec does).
            values = value if option.get('type') == 'list' else [value]
            if any(v not in option['choices'] for v in values):
                wrong.append('%s: %s default %r not in %r' % (path, source, value, option['choices']))
    assert not wrong, 'roles/%s entry point %s: %s' % (name, entry_point, '; '.join(wrong))


@per_entry_point
def test_fixed_sets_are_choices(name, entry_point):
    """What a preflight accepts from a fixed list is the option's `choices:` in every entry point."""
    options = dict(_walk(_options(name, entry_point)))
    wrong = []
    for subject, values, where in fixed_sets(name):
        parent = subject.rsplit('.', 1)[0] if '.' in subject else None
        if subject not in options:
            # A field of a free-form dict (no suboptions declared) has nowhere to put choices;
            # a declared parent with suboptions must declare the field.
            if parent and parent in options and options[parent].get('options'):
                wrong.append('%s is checked by "%s" but not declared' % (subject, where))
            continue
        choices = options[subject].get('choices')
        if choices is None or sorted(map(str, choices)) != sorted(map(str, values)):
            wrong.append('%s choices %r, the preflight accepts %r ("%s")' % (subject, choices, values, where))
    assert not wrong, 'roles/%s entry point %s: %s' % (name, entry_point, '; '.join(wrong))


@per_entry_point
def test_enumerations_have_choices(name, entry_point):
    """A *_policy/*_mode/*_type... option lists its values, or FREE_FORM says why it cannot."""
    wrong = []
    for path, option in _walk(_options(name, entry_point)):
        key = path.rsplit('.', 1)[-1]
        if (key.endswith(ENUM_SUFFIXES) and option.get('type') in ('str', 'int') and 'choices' not in option
                and (name, path) not in FREE_FORM):
            wrong.append(path)
    assert not wrong, 'roles/%s entry point %s: no choices (or a FREE_FORM reason) for %s' % (
        name, entry_point, ', '.join(wrong))


def test_free_form_exceptions_are_current():
    """A FREE_FORM entry names a declared option without choices, or it hides nothing."""
    stale = []
    for (name, path), _reason in FREE_FORM.items():
        option = dict(_walk(_options(name, 'main'))).get(path)
        if option is None or 'choices' in option:
            stale.append('%s:%s' % (name, path))
    assert not stale, 'FREE_FORM entries to drop: %s' % stale


def test_the_fixed_set_reader_sees_the_known_asserts():
    """The reader above must find what it exists for, or the choices test proves nothing."""
    proxy = {subject for subject, _values, _where in fixed_sets('proxy')}
    redis = {subject: values for subject, values, _where in fixed_sets('redis')}
    assert 'proxy_waf_paranoia_level' in proxy
    assert 'noeviction' in redis['redis_instances.maxmemory_policy']


def test_the_task_reader_follows_includes_and_templates():
    """used_names follows imports, templates and vars/, and ignores comments."""
    proxy = used_names('proxy', 'main')
    assert 'proxy_waf_paranoia_level' in proxy          # tasks/preflight.yml, imported
    assert 'proxy_referrer_policy' in proxy             # templates/security-headers.conf.j2
    exporter = used_names('monitoring', 'exporter')
    assert 'monitoring_node_exporter_port' in exporter
    # named only in a comment of tasks/exporter.yml and in vars/ that exporter.yml does not read
    assert 'monitoring_node_exporter_groups' not in exporter
