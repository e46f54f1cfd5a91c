# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side logic of flash.connect.secret_rotate, private to the collection.

Pure functions: policy validation, value generation, due computation, the store's YAML
(de)serialisation and the version diff. Encryption and file access live in the action plugin.
Nothing here ever puts a secret value into an exception message or a diff.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import math
import os
import re
import secrets
import string

import yaml

try:  # ansible-core 2.19+ also keeps the CLI's vault secrets in a context
    from ansible.parsing.vault import VaultSecretsContext
except ImportError:  # pragma: no cover - older ansible-core
    VaultSecretsContext = None

STORE_FORMAT = 1
MAX_VERSIONS = 2  # current + previous
MIN_LENGTH = 24
MAX_LENGTH = 4096
MIN_BITS = 128

# 'ascii' is printable ASCII without space, quotes (' " `) and backslash, so that a value can be
# pasted into a shell, YAML or an INI file without quoting surprises. It is NOT URL-safe: it
# holds @ / # ? % : and more, so a URL that carries such a value must percent-encode it (the
# flash.connect.amqp_url and redis_url filters do). Only 'alnum', 'hex' and 'urlsafe' can go
# into a URL as they are.
ALPHABETS = {
    'alnum': string.ascii_letters + string.digits,
    'hex': '0123456789abcdef',
    'urlsafe': string.ascii_letters + string.digits + '-_',
    'ascii': ''.join(c for c in string.ascii_letters + string.digits + string.punctuation if c not in '\'"`\\'),
}

POLICY_DEFAULTS = {'length': 32, 'alphabet': 'alnum', 'period': '90d', 'overlap': '1d'}

SECRET_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_DURATION_RE = re.compile(r'^(?:\d+[wdhms])+$')
_DURATION_PART_RE = re.compile(r'(\d+)([wdhms])')
_UNIT_SECONDS = {'w': 604800, 'd': 86400, 'h': 3600, 'm': 60, 's': 1}
_BOOL_WORDS = {'true': True, 'yes': True, 'on': True, '1': True, 'false': False, 'no': False, 'off': False, '0': False}
_STORE_HEADER = '# flash.connect.secret_rotate store: edit only with ansible-vault, keep at most 2 versions per secret.\n'


class SecretRotateError(Exception):
    """Bad input or a bad store. The message names the field at fault and never carries a value."""


class Policy(object):
    """A validated generation and rotation policy for one secret."""

    __slots__ = ('name', 'length', 'alphabet', 'period', 'overlap')

    def __init__(self, name, length, alphabet, period, overlap):
        self.name = name
        self.length = length
        self.alphabet = alphabet
        self.period = period  # seconds
        self.overlap = overlap  # seconds

    @property
    def bits(self):
        return self.length * math.log2(len(ALPHABETS[self.alphabet]))


def parse_duration(value, field):
    """A duration (``90d``, ``12h``, ``1d12h``, ``30m``, ``45s``, ``2w`` or a number of seconds) in seconds."""
    if isinstance(value, bool):
        raise SecretRotateError('%s: a duration is expected (like 90d, 12h, 30m, 45s or seconds), got a boolean' % field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return int(text)
        if _DURATION_RE.match(text):
            return sum(int(count) * _UNIT_SECONDS[unit] for count, unit in _DURATION_PART_RE.findall(text))
    raise SecretRotateError('%s: cannot parse duration %r (use a number followed by w, d, h, m or s, like 90d or 12h,'
                            ' or an integer number of seconds)' % (field, value))


def parse_time(value, field):
    """An ISO 8601 time as an aware UTC datetime, whole seconds. A time without offset is taken as UTC."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.endswith(('Z', 'z')):
            text = text[:-1] + '+00:00'
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise SecretRotateError('%s: %r is not an ISO 8601 time (like 2025-01-31T12:00:00Z)' % (field, value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0)


def format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def validate_policies(secret_specs):
    """Validate ``secrets`` (name -> policy dict). Returns name -> Policy."""
    if not isinstance(secret_specs, dict) or not secret_specs:
        raise SecretRotateError('secrets: give at least one secret as name -> policy (a dict, may be empty for the defaults)')
    policies = {}
    for name in sorted(secret_specs, key=str):
        spec = secret_specs[name]
        if not isinstance(name, str) or not SECRET_NAME_RE.match(name):
            raise SecretRotateError('secrets: invalid secret name %r (letters, digits, ".", "_" and "-", starting with a letter or digit)' % (name,))
        field = 'secrets.%s' % name
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise SecretRotateError('%s: the policy must be a dict with keys %s' % (field, ', '.join(sorted(POLICY_DEFAULTS))))
        unknown = sorted(str(key) for key in spec if key not in POLICY_DEFAULTS)
        if unknown:
            raise SecretRotateError('%s.%s: unknown policy key (known: %s)' % (field, unknown[0], ', '.join(sorted(POLICY_DEFAULTS))))
        merged = dict(POLICY_DEFAULTS)
        merged.update((key, value) for key, value in spec.items() if value is not None)

        length = merged['length']
        if isinstance(length, str) and length.strip().isdigit():
            length = int(length.strip())
        if isinstance(length, bool) or not isinstance(length, int):
            raise SecretRotateError('%s.length: an integer is expected, got %r' % (field, length))
        if length < MIN_LENGTH:
            raise SecretRotateError('%s.length: %d is weaker than the minimum of %d characters' % (field, length, MIN_LENGTH))
        if length > MAX_LENGTH:
            raise SecretRotateError('%s.length: %d is more than the maximum of %d characters' % (field, length, MAX_LENGTH))

        alphabet = merged['alphabet']
        if alphabet not in ALPHABETS:
            raise SecretRotateError('%s.alphabet: %r is not one of %s' % (field, alphabet, ', '.join(sorted(ALPHABETS))))

        period = parse_duration(merged['period'], '%s.period' % field)
        if period <= 0:
            raise SecretRotateError('%s.period: the rotation period must be longer than 0 seconds' % field)
        overlap = parse_duration(merged['overlap'], '%s.overlap' % field)
        if overlap < 0:
            raise SecretRotateError('%s.overlap: the overlap window cannot be negative' % field)
        if overlap > period:
            raise SecretRotateError('%s.overlap: the overlap window (%ds) is longer than the rotation period %s.period (%ds)'
                                    % (field, overlap, field, period))

        name = str(name)  # a plain str: the store is dumped with yaml.safe_dump, which refuses str subclasses
        policy = Policy(name, length, alphabet, period, overlap)
        if policy.bits < MIN_BITS:
            raise SecretRotateError('%s: %d characters of %s give %.1f bits of entropy, below the minimum of %d bits'
                                    ' (raise %s.length or choose a larger %s.alphabet)'
                                    % (field, length, alphabet, policy.bits, MIN_BITS, field, field))
        policies[name] = policy
    return policies


def select_names(names, policies):
    """The secrets to consider this run: ``names`` (all of ``secrets`` when None), sorted, each known."""
    if names is None:
        return sorted(policies)
    if isinstance(names, str):
        names = [item.strip() for item in names.split(',') if item.strip()]
    if not isinstance(names, (list, tuple)) or not names:
        raise SecretRotateError('names: give a list of at least one secret name, or leave names out for all of secrets')
    for name in names:
        if name not in policies:
            raise SecretRotateError('names: %r is not a secret defined in secrets (known: %s)' % (name, ', '.join(sorted(policies))))
    return sorted(set(str(name) for name in names))


def parse_force(force, policies, selected):
    """``force``: a bool (all selected secrets), a list of names, or a comma-separated string. Returns a set."""
    if force is None:
        return set()
    if isinstance(force, str):
        word = force.strip().lower()
        if word in _BOOL_WORDS or word == '':
            force = _BOOL_WORDS.get(word, False)
        else:
            force = [item.strip() for item in force.split(',') if item.strip()]
    if isinstance(force, bool):
        return set(selected) if force else set()
    if not isinstance(force, (list, tuple)):
        raise SecretRotateError('force: expected true/false or a list of secret names, got %s' % type(force).__name__)
    forced = set()
    for name in force:
        if name not in policies:
            raise SecretRotateError('force: %r is not a secret defined in secrets (known: %s)' % (name, ', '.join(sorted(policies))))
        if name not in selected:
            raise SecretRotateError('force: %r is not selected by names (selected: %s)' % (name, ', '.join(selected)))
        forced.add(str(name))
    return forced


def generate(policy, choice=secrets.choice):
    """A fresh value following the policy, from the operating system's CSPRNG."""
    alphabet = ALPHABETS[policy.alphabet]
    return ''.join(choice(alphabet) for dummy in range(policy.length))


# ---- store -------------------------------------------------------------------------------------

def empty_store():
    return {'format': STORE_FORMAT, 'secrets': {}}


def load_store(text, source):
    """Parse and check the store's plain YAML. Error messages carry positions, never content."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = ' at line %d, column %d' % (mark.line + 1, mark.column + 1) if mark is not None else ''
        raise SecretRotateError('%s: the store is not valid YAML%s' % (source, where))
    if data is None:
        raise SecretRotateError('%s: the store is empty; remove the file to start a new store' % source)
    if not isinstance(data, dict) or data.get('format') != STORE_FORMAT:
        raise SecretRotateError('%s: not a secret_rotate store (expected a mapping with format: %d)' % (source, STORE_FORMAT))
    stored = data.get('secrets')
    if stored is None:
        stored = {}
    if not isinstance(stored, dict):
        raise SecretRotateError('%s: secrets must be a mapping of name -> {versions: [...]}' % source)
    for name, entry in stored.items():
        where = '%s: secrets.%s' % (source, name)
        if not isinstance(entry, dict) or not isinstance(entry.get('versions'), list):
            raise SecretRotateError('%s must be a mapping with a versions list' % where)
        seen = set()
        for index, version in enumerate(entry['versions']):
            at = '%s.versions[%d]' % (where, index)
            if not isinstance(version, dict):
                raise SecretRotateError('%s must be a mapping with version, value and created' % at)
            number = version.get('version')
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise SecretRotateError('%s.version must be a positive integer' % at)
            if number in seen:
                raise SecretRotateError('%s.version %d appears twice' % (at, number))
            seen.add(number)
            if not isinstance(version.get('value'), str) or not version['value']:
                raise SecretRotateError('%s.value must be a non-empty string' % at)
            created = version.get('created')
            if not isinstance(created, (str, datetime.date)):
                raise SecretRotateError('%s.created must be an ISO 8601 time' % at)
            parse_time(created, '%s.created' % at)
        overlap = entry.get('overlap')
        if overlap is not None and (isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0):
            raise SecretRotateError('%s.overlap must be a number of seconds (0 or more)' % where)
    return {'format': STORE_FORMAT, 'secrets': stored}


def dump_store(store):
    body = yaml.safe_dump(store, default_flow_style=False, sort_keys=True, explicit_start=True, width=4096,
                          allow_unicode=False)
    return _STORE_HEADER + body


def versions_of(store, name):
    """The stored versions of a secret, newest first (by version number)."""
    entry = store['secrets'].get(name)
    if not entry:
        return []
    return sorted(entry['versions'], key=lambda version: version['version'], reverse=True)


def rotate_reason(versions, policy, forced, now):
    """Why the secret must get a new version now (``new``, ``forced``, ``due``), or None."""
    if not versions:
        return 'new'
    if forced:
        return 'forced'
    created = parse_time(versions[0]['created'], 'created')
    if (now - created).total_seconds() >= policy.period:
        return 'due'
    return None


def add_version(store, name, value, now, overlap=None):
    """Put a new current version of ``name`` into ``store``, keeping the newest MAX_VERSIONS.

    ``overlap`` (seconds, the policy's overlap at this rotation) is recorded with the secret so that
    readers without the policy (the rotated_secret lookup) know how long the previous version stays valid.
    """
    versions = versions_of(store, name)
    number = versions[0]['version'] + 1 if versions else 1
    new = {'version': number, 'value': value, 'created': format_time(now)}
    entry = dict(store['secrets'].get(name) or {})
    entry['versions'] = [new] + versions[:MAX_VERSIONS - 1]
    if overlap is not None:
        entry['overlap'] = int(overlap)
    store['secrets'][name] = entry
    return new


def stored_overlap(store, name):
    """The overlap (seconds) recorded with ``name`` at its last rotation; 0 when none is recorded."""
    entry = store['secrets'].get(name) or {}
    return entry.get('overlap') or 0


def previous_in_window(versions, overlap, now):
    """(previous version, end of its window) while the previous version (of versions, newest first)
    is still valid at ``now``, that is before the current version's creation plus ``overlap`` seconds;
    else (None, None)."""
    if len(versions) < 2:
        return None, None
    created = parse_time(versions[0]['created'], 'created')
    valid_until = created + datetime.timedelta(seconds=overlap)
    if now < valid_until:
        return versions[1], valid_until
    return None, None


def describe(versions, policy, now):
    """The result for one secret from its versions (newest first); previous only inside its overlap window."""
    current = versions[0]
    created = parse_time(current['created'], 'created')
    report = {
        'version': current['version'],
        'created': format_time(created),
        'due': format_time(created + datetime.timedelta(seconds=policy.period)),
        'current': current.get('value'),
        'previous': None,
        'previous_version': None,
        'previous_valid_until': None,
    }
    previous, valid_until = previous_in_window(versions, policy.overlap, now)
    if previous is not None:
        report['previous'] = previous['value']
        report['previous_version'] = previous['version']
        report['previous_valid_until'] = format_time(valid_until)
    return report


def version_lines(store):
    """Diff text: one ``<name>: version N created <time>`` line per stored version. Never a value."""
    lines = []
    for name in sorted(store['secrets'], key=str):
        for version in versions_of(store, name):
            created = format_time(parse_time(version['created'], 'created'))
            lines.append('%s: version %d created %s\n' % (name, version['version'], created))
    return ''.join(lines)


def store_path(loader, path):
    """The store's absolute path: a relative one is taken from the playbook directory, and a
    symlinked store is followed so that the link keeps pointing at it after a write."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(loader.get_basedir(), path)
    return os.path.realpath(path)


def loaded_vault_secrets(loader):
    """The vault secrets Ansible loaded (--vault-id, --vault-password-file, AWX's credential)."""
    vault = getattr(loader, '_vault', None)
    found = list(getattr(vault, 'secrets', None) or [])
    if not found and VaultSecretsContext is not None:
        context = VaultSecretsContext.current(optional=True)
        found = list(context.secrets or []) if context else []
    return found
