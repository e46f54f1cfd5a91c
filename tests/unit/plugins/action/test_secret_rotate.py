# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The secret_rotate action plugin driven through ActionBase with a real DataLoader and vault."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import multiprocessing
import os
import stat
import subprocess
import textwrap
import types

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.flash.connect.plugins.action import secret_rotate as action_module
from ansible_collections.flash.connect.plugins.action.secret_rotate import ActionModule
from ansible_collections.flash.connect.plugins.modules import secret_rotate as module_doc
from ansible_collections.flash.connect.plugins.plugin_utils import _secret_rotate as logic
from ansible_collections.flash.connect.tests.unit.plugins.action.harness import ANSIBLE_PLAYBOOK, isolated_ansible, run_action

VAULT_PASS = b'test-vault-pass'
T0 = '2025-01-01T00:00:00Z'

POLICIES = {
    'redis_app': {'length': 40, 'alphabet': 'urlsafe', 'period': '90d', 'overlap': '1d'},
    'jwt_signing': {'length': 64, 'alphabet': 'ascii', 'period': '30d', 'overlap': '12h'},
    'webhook': {},
}


def vault_loader(*secrets):
    loader = DataLoader()
    loader.set_vault_secrets(list(secrets) or [('default', VaultSecret(VAULT_PASS))])
    return loader


def no_vault_loader():
    loader = DataLoader()
    loader.set_vault_secrets([])
    return loader


def run(args, loader=None, check_mode=False, diff=False):
    return run_action(ActionModule, 'flash.connect.secret_rotate', args, loader=loader or vault_loader(),
                      check_mode=check_mode, diff=diff)


def decrypt(path, password=VAULT_PASS):
    with open(path, 'rb') as handle:
        data = handle.read()
    assert data.startswith(b'$ANSIBLE_VAULT;'), 'the store must be vault-encrypted on disk'
    return yaml.safe_load(VaultLib([('default', VaultSecret(password))]).decrypt(data))


def snapshot(path):
    """Bytes and mtime, with the mtime pushed into the past so that any rewrite shows."""
    os.utime(path, ns=(1000000000, 1000000000))
    with open(path, 'rb') as handle:
        return handle.read(), os.stat(path).st_mtime_ns


def same_as(path, snap):
    with open(path, 'rb') as handle:
        return (handle.read(), os.stat(path).st_mtime_ns) == snap


def values_of(result):
    found = []
    for report in result['secrets'].values():
        found.extend(value for value in (report['current'], report['previous']) if value)
    return found


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / 'prod' / 'store.vault.yml')


@pytest.fixture
def first(store):
    """A store with version 1 of every secret of POLICIES, created at T0."""
    result = run({'path': store, 'secrets': POLICIES, 'now': T0})
    assert result.get('failed') is not True, result.get('msg')
    return result


# ---- first run, idempotence ------------------------------------------------------------------

def test_first_run_creates_version_1_encrypted_0600(store, first):
    assert first['changed'] is True
    assert first['rotated'] == ['jwt_signing', 'redis_app', 'webhook']
    assert first['encrypted'] is True
    assert first['path'] == store
    assert mode_of(store) == 0o600
    assert mode_of(os.path.dirname(store)) == 0o700
    on_disk = decrypt(store)
    assert on_disk['format'] == 1
    for name, report in first['secrets'].items():
        assert report['version'] == 1
        assert report['created'] == T0
        assert report['rotated'] is True
        assert report['previous'] is None and report['previous_version'] is None
        assert report['previous_valid_until'] is None
        assert on_disk['secrets'][name]['versions'] == [{'version': 1, 'value': report['current'], 'created': T0}]
    assert first['secrets']['redis_app']['due'] == '2025-04-01T00:00:00Z'
    assert first['secrets']['jwt_signing']['due'] == '2025-01-31T00:00:00Z'
    assert not [entry for entry in os.listdir(os.path.dirname(store)) if entry != 'store.vault.yml'], 'temp file left'


def test_second_run_changes_nothing_and_does_not_rewrite(store, first):
    snap = snapshot(store)
    again = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-02T00:00:00Z'})
    assert again['changed'] is False
    assert again['rotated'] == []
    assert same_as(store, snap)
    for name, report in again['secrets'].items():
        assert report['version'] == 1
        assert report['rotated'] is False
        assert report['current'] == first['secrets'][name]['current']


def test_run_with_the_real_clock_is_idempotent(store):
    created = run({'path': store, 'secrets': {'webhook': {}}})
    assert created['changed'] is True
    snap = snapshot(store)
    again = run({'path': store, 'secrets': {'webhook': {}}})
    assert again['changed'] is False and same_as(store, snap)
    assert again['secrets']['webhook']['current'] == created['secrets']['webhook']['current']


# ---- rotation, overlap --------------------------------------------------------------------------

def test_due_secret_gets_version_2_and_previous_is_returned(store, first):
    later = '2025-01-31T00:00:00Z'  # exactly jwt_signing's period (30d); redis_app (90d) is not due
    result = run({'path': store, 'secrets': POLICIES, 'now': later})
    assert result['changed'] is True
    assert result['rotated'] == ['jwt_signing']
    jwt = result['secrets']['jwt_signing']
    assert jwt['version'] == 2 and jwt['rotated'] is True
    assert jwt['created'] == later
    assert jwt['due'] == '2025-03-02T00:00:00Z'
    assert jwt['previous'] == first['secrets']['jwt_signing']['current']
    assert jwt['current'] != jwt['previous']
    assert jwt['previous_version'] == 1
    assert jwt['previous_valid_until'] == '2025-01-31T12:00:00Z'
    assert result['secrets']['redis_app']['version'] == 1 and result['secrets']['redis_app']['rotated'] is False
    on_disk = decrypt(store)['secrets']
    assert [v['version'] for v in on_disk['jwt_signing']['versions']] == [2, 1]
    assert on_disk['redis_app']['versions'][0]['value'] == first['secrets']['redis_app']['current']


def test_one_second_before_the_period_is_not_due(store, first):
    snap = snapshot(store)
    result = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-30T23:59:59Z'})
    assert result['changed'] is False and same_as(store, snap)


def test_previous_is_null_after_the_overlap_window_without_a_write(store, first):
    rotated = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-31T00:00:00Z'})
    old = rotated['secrets']['jwt_signing']['previous']
    assert old
    snap = snapshot(store)

    inside = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-31T11:59:59Z'})
    assert inside['secrets']['jwt_signing']['previous'] == old

    after = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-31T12:00:00Z'})
    jwt = after['secrets']['jwt_signing']
    assert after['changed'] is False
    assert jwt['previous'] is None and jwt['previous_version'] is None and jwt['previous_valid_until'] is None
    assert jwt['current'] == rotated['secrets']['jwt_signing']['current']
    assert same_as(store, snap), 'expiry of the previous version must not rewrite the store'
    assert [v['version'] for v in decrypt(store)['secrets']['jwt_signing']['versions']] == [2, 1]


def test_store_keeps_at_most_two_versions(store):
    args = {'path': store, 'secrets': {'webhook': {'period': '1d', 'overlap': '1h'}}}
    values = []
    for day in range(1, 5):
        result = run(dict(args, now='2025-03-%02dT00:00:00Z' % day))
        assert result['changed'] is True
        values.append(result['secrets']['webhook']['current'])
    versions = decrypt(store)['secrets']['webhook']['versions']
    assert [v['version'] for v in versions] == [4, 3]
    assert [v['value'] for v in versions] == [values[3], values[2]]
    assert len(set(values)) == 4, 'every rotation must produce a new value'


# ---- force, names -------------------------------------------------------------------------------

def test_force_list_rotates_only_those(store, first):
    result = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-02T00:00:00Z', 'force': ['webhook']})
    assert result['changed'] is True
    assert result['rotated'] == ['webhook']
    assert result['secrets']['webhook']['version'] == 2
    assert result['secrets']['webhook']['previous'] == first['secrets']['webhook']['current']
    assert result['secrets']['redis_app']['version'] == 1
    assert result['secrets']['jwt_signing']['version'] == 1
    on_disk = decrypt(store)['secrets']
    assert len(on_disk['redis_app']['versions']) == 1 and len(on_disk['webhook']['versions']) == 2


def test_force_true_rotates_every_selected_secret_each_run(store, first):
    args = {'path': store, 'secrets': POLICIES, 'now': '2025-01-02T00:00:00Z', 'force': True,
            'names': ['redis_app', 'webhook']}
    once = run(args)
    assert once['rotated'] == ['redis_app', 'webhook']
    twice = run(args)
    assert twice['rotated'] == ['redis_app', 'webhook']
    assert twice['secrets']['redis_app']['version'] == 3
    assert decrypt(store)['secrets']['jwt_signing']['versions'][0]['version'] == 1


def test_names_selects_the_secrets_to_consider(store, first):
    result = run({'path': store, 'secrets': POLICIES, 'names': ['jwt_signing'], 'now': '2026-01-01T00:00:00Z'})
    assert set(result['secrets']) == {'jwt_signing'}
    assert result['rotated'] == ['jwt_signing']
    on_disk = decrypt(store)['secrets']
    assert on_disk['jwt_signing']['versions'][0]['version'] == 2
    assert on_disk['redis_app']['versions'] == [{'version': 1, 'value': first['secrets']['redis_app']['current'],
                                                 'created': T0}]


def test_secrets_not_in_the_policy_are_kept_untouched(store, first):
    run({'path': store, 'secrets': {'redis_app': POLICIES['redis_app']}, 'force': True, 'now': '2025-01-02T00:00:00Z'})
    on_disk = decrypt(store)['secrets']
    assert set(on_disk) == {'redis_app', 'jwt_signing', 'webhook'}
    assert on_disk['webhook']['versions'] == [{'version': 1, 'value': first['secrets']['webhook']['current'],
                                               'created': T0}]


# ---- create_only (site.yml): create what is missing, never rotate -----------------------------------

def test_create_only_creates_missing_secrets_and_keeps_existing_ones(store, first):
    policies = dict(POLICIES, rabbitmq_app={'period': '30d'})
    snap = snapshot(store)
    result = run({'path': store, 'secrets': policies, 'create_only': True, 'now': '2025-01-02T00:00:00Z'})
    assert result['changed'] is True and result['rotated'] == ['rabbitmq_app']
    assert result['msg'] == 'created: rabbitmq_app'
    assert result['secrets']['rabbitmq_app']['version'] == 1 and result['secrets']['rabbitmq_app']['rotated'] is True
    assert not same_as(store, snap)
    on_disk = decrypt(store)['secrets']
    assert on_disk['rabbitmq_app']['versions'][0]['value'] == result['secrets']['rabbitmq_app']['current']
    for name in POLICIES:
        assert result['secrets'][name]['rotated'] is False
        assert on_disk[name]['versions'] == first_versions(first, name)


def first_versions(first, name):
    return [{'version': 1, 'value': first['secrets'][name]['current'], 'created': T0}]


def test_create_only_on_a_new_store_creates_every_secret(store):
    result = run({'path': store, 'secrets': POLICIES, 'create_only': True, 'now': T0})
    assert result['changed'] is True and result['rotated'] == sorted(POLICIES)
    assert sorted(decrypt(store)['secrets']) == sorted(POLICIES)


def test_create_only_never_rotates_a_due_secret(store, first):
    snap = snapshot(store)
    overdue = '2026-01-01T00:00:00Z'  # every secret is past its period
    result = run({'path': store, 'secrets': POLICIES, 'create_only': True, 'now': overdue})
    assert result['changed'] is False and result['rotated'] == []
    assert result['msg'] == 'every selected secret exists'
    assert same_as(store, snap), 'create_only must not rewrite the store'
    for name in POLICIES:
        report = result['secrets'][name]
        assert report['rotated'] is False and report['version'] == 1
        assert report['current'] == first['secrets'][name]['current']
        assert report['due'] == first['secrets'][name]['due']
    # The same run without create_only does rotate them.
    assert run({'path': store, 'secrets': POLICIES, 'now': overdue})['rotated'] == sorted(POLICIES)


def test_create_only_in_check_mode_reports_the_missing_one_and_writes_nothing(store, first):
    snap = snapshot(store)
    result = run({'path': store, 'secrets': dict(POLICIES, extra={}), 'create_only': True,
                  'now': '2026-01-01T00:00:00Z'}, check_mode=True)
    assert result['changed'] is True and result['rotated'] == ['extra']
    assert same_as(store, snap)


@pytest.mark.parametrize('force', [True, ['webhook'], 'webhook', 'yes'])
def test_force_with_create_only_is_an_error_naming_create_only(store, first, force):
    snap = snapshot(store)
    result = run({'path': store, 'secrets': POLICIES, 'create_only': True, 'force': force, 'now': T0})
    assert result['failed'] is True and result['changed'] is False
    assert result['msg'].startswith('create_only:') and 'force' in result['msg']
    assert same_as(store, snap)


def test_create_only_with_force_false_or_empty_is_fine(store, first):
    for force in (False, [], 'no'):
        result = run({'path': store, 'secrets': POLICIES, 'create_only': True, 'force': force, 'now': T0})
        assert result.get('failed') is not True and result['changed'] is False


def test_the_overlap_of_the_rotation_is_recorded_in_the_store(store, first):
    on_disk = decrypt(store)['secrets']
    assert on_disk['redis_app']['overlap'] == 86400 and on_disk['jwt_signing']['overlap'] == 43200
    assert on_disk['webhook']['overlap'] == 86400  # the default policy
    run({'path': store, 'secrets': dict(POLICIES, webhook={'overlap': '2h'}), 'force': ['webhook'],
         'now': '2025-01-02T00:00:00Z'})
    assert decrypt(store)['secrets']['webhook']['overlap'] == 7200


# ---- check mode, diff, no values in output ------------------------------------------------------

def test_check_mode_on_a_new_store_writes_nothing(store):
    result = run({'path': store, 'secrets': POLICIES, 'now': T0}, check_mode=True, diff=True)
    assert result['changed'] is True
    assert result['rotated'] == ['jwt_signing', 'redis_app', 'webhook']
    assert not os.path.exists(store)
    assert not os.path.exists(os.path.dirname(store))
    for report in result['secrets'].values():
        assert report['version'] == 1 and report['current'] is None and report['rotated'] is True
    assert result['diff']['before'] == ''
    assert 'webhook: version 1 created 2025-01-01T00:00:00Z' in result['diff']['after']


def test_check_mode_on_a_due_store_writes_nothing_and_reports_the_new_version(store, first):
    snap = snapshot(store)
    result = run({'path': store, 'secrets': POLICIES, 'now': '2025-02-01T00:00:00Z'}, check_mode=True)
    assert result['changed'] is True and result['rotated'] == ['jwt_signing']
    jwt = result['secrets']['jwt_signing']
    assert jwt['version'] == 2 and jwt['current'] is None
    assert jwt['previous'] == first['secrets']['jwt_signing']['current']
    assert same_as(store, snap)


def test_diff_shows_versions_and_dates_never_values(store, first):
    result = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-31T00:00:00Z'}, diff=True)
    diff = result['diff']
    assert 'jwt_signing: version 1 created 2025-01-01T00:00:00Z' in diff['before']
    assert 'jwt_signing: version 2' not in diff['before']
    assert 'jwt_signing: version 2 created 2025-01-31T00:00:00Z' in diff['after']
    assert 'jwt_signing: version 1 created 2025-01-01T00:00:00Z' in diff['after']
    assert 'redis_app: version 1 created 2025-01-01T00:00:00Z' in diff['after']
    generated = set(values_of(result) + values_of(first))
    assert len(generated) == 4  # v1 of three secrets and v2 of jwt_signing
    everything_but_values = str({key: value for key, value in result.items() if key != 'secrets'})
    everything_but_values += str({key: value for key, value in first.items() if key != 'secrets'})
    for value in generated:
        assert value not in diff['before'] and value not in diff['after']
        assert value not in everything_but_values


def _documented_value_fields():
    """The fields of RV(secrets) whose documentation says they hold a value."""
    contains = yaml.safe_load(module_doc.RETURN)['secrets']['contains']
    return {name for name, field in contains.items()
            if ' '.join(field['description'] if isinstance(field['description'], list) else [field['description']])
            .startswith(('The current value', 'The previous value'))}


def _where(result, values, path=()):
    """Every path of the result (dict keys, list indexes as '*') whose text holds one of the values."""
    found = set()
    if isinstance(result, dict):
        for key, item in result.items():
            found |= _where(item, values, path + (str(key),))
    elif isinstance(result, (list, tuple)):
        for item in result:
            found |= _where(item, values, path + ('*',))
    elif any(value in str(result) for value in values):
        found.add(path)
    return found


def test_the_result_holds_values_only_where_the_documentation_says(store, first):
    """What Ansible shows of the result without no_log: values only in secrets.NAME.current/previous."""
    assert _documented_value_fields() == {'current', 'previous'}
    rotated = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-31T00:00:00Z', 'force': True}, diff=True)
    values = set(values_of(first)) | set(values_of(rotated))
    assert len(values) == 6  # three v1 values and their three v2 values
    allowed = {('secrets', name, field) for name in POLICIES for field in _documented_value_fields()}
    assert _where(rotated, values) <= allowed
    assert _where(first, values) <= allowed
    checked = run({'path': store, 'secrets': POLICIES, 'now': '2025-01-31T00:00:00Z', 'force': True},
                  check_mode=True, diff=True)
    assert _where(checked, values) <= allowed
    # Positive control: the search finds a value put anywhere else.
    planted = dict(rotated, msg='rotated %s' % sorted(values)[0], diff={'after': sorted(values)[1]})
    assert {('msg',), ('diff', 'after')} <= _where(planted, values)


def test_no_diff_without_diff_mode(store):
    assert 'diff' not in run({'path': store, 'secrets': POLICIES, 'now': T0})


# ---- generated values ---------------------------------------------------------------------------

@pytest.mark.parametrize('alphabet, length, allowed', [
    ('alnum', 24, set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')),
    ('hex', 32, set('0123456789abcdef')),
    ('urlsafe', 30, set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_')),
    ('ascii', 100, set(chr(code) for code in range(33, 127)) - set('\'"`\\')),
])
def test_generated_values_follow_the_policy(store, alphabet, length, allowed):
    policy = {'s': {'length': length, 'alphabet': alphabet, 'period': '1h', 'overlap': '1m'}}
    first = run({'path': store, 'secrets': policy, 'now': T0})['secrets']['s']['current']
    second = run({'path': store, 'secrets': policy, 'now': '2025-01-01T01:00:00Z'})['secrets']['s']['current']
    for value in (first, second):
        assert len(value) == length
        assert set(value) <= allowed, set(value) - allowed
    assert first != second
    assert [v['value'] for v in decrypt(store)['secrets']['s']['versions']] == [second, first]


# ---- validation: every error names its field, nothing written -----------------------------------

@pytest.mark.parametrize('change, fields', [
    ({'secrets': {'a': {'length': 23}}}, ['secrets.a.length', '24']),
    ({'secrets': {'a': {'length': 24, 'alphabet': 'hex'}}}, ['secrets.a', '96.0 bits', '128']),
    ({'secrets': {'a': {'period': '1d', 'overlap': '2d'}}}, ['secrets.a.overlap']),
    ({'secrets': {'a': {'period': 'soon'}}}, ['secrets.a.period', 'soon']),
    ({'secrets': {'a': {'period': 0, 'overlap': 0}}}, ['secrets.a.period']),
    ({'secrets': {'a': {'overlap': '1 day'}}}, ['secrets.a.overlap']),
    ({'secrets': {'a': {'lenght': 40}}}, ['secrets.a.lenght']),
    ({'secrets': {'a': {'alphabet': 'emoji'}}}, ['secrets.a.alphabet']),
    ({'secrets': {'a': {'length': 'long'}}}, ['secrets.a.length']),
    ({'secrets': {'a': 'strong'}}, ['secrets.a']),
    ({'secrets': {}}, ['secrets']),
    ({'names': ['a', 'zzz']}, ['names', 'zzz']),
    ({'names': []}, ['names']),
    ({'force': ['zzz']}, ['force', 'zzz']),
    ({'force': ['b'], 'names': ['a']}, ['force', 'b']),
    ({'force': 3}, ['force']),
    ({'now': 'yesterday'}, ['now', 'yesterday']),
    ({'vault_id': 'prod'}, ['vault_id', 'prod']),
])
def test_bad_input_is_rejected_naming_the_field_before_any_write(tmp_path, change, fields):
    path = str(tmp_path / 'store.vault.yml')
    args = {'path': path, 'secrets': {'a': {}, 'b': {}}, 'now': T0}
    args.update(change)
    result = run(args)
    assert result['failed'] is True and result['changed'] is False
    for field in fields:
        assert field in result['msg']
    assert not os.path.exists(path)

    # The same input against an existing store leaves it byte for byte.
    assert run({'path': path, 'secrets': {'a': {}, 'b': {}}, 'now': T0})['changed'] is True
    snap = snapshot(path)
    result = run(dict(args, now='2030-01-01T00:00:00Z') if 'now' not in change else args)
    assert result['failed'] is True
    assert same_as(path, snap)


def test_unknown_option_is_rejected(store):
    with pytest.raises(Exception, match='paht'):
        run({'path': store, 'paht': store, 'secrets': POLICIES})
    assert not os.path.exists(store)


def test_policy_of_exactly_24_characters_and_128_bits_is_accepted(store):
    result = run({'path': store, 'now': T0, 'secrets': {
        'alnum24': {'length': 24}, 'hex32': {'length': 32, 'alphabet': 'hex'}, 'even': {'period': '1d', 'overlap': '1d'}}})
    assert result['changed'] is True and result['rotated'] == ['alnum24', 'even', 'hex32']


# ---- vault --------------------------------------------------------------------------------------

def test_missing_vault_password_fails_before_anything_is_written(store):
    result = run({'path': store, 'secrets': POLICIES, 'now': T0}, loader=no_vault_loader())
    assert result['failed'] is True
    assert 'vault password' in result['msg']
    assert '--vault-password-file' in result['msg'] and '--vault-id' in result['msg'] and 'AWX' in result['msg']
    assert not os.path.exists(store) and not os.path.exists(os.path.dirname(store))


def test_missing_vault_password_leaves_an_existing_store_alone(store, first):
    snap = snapshot(store)
    result = run({'path': store, 'secrets': POLICIES, 'force': True, 'now': T0}, loader=no_vault_loader())
    assert result['failed'] is True and 'vault password' in result['msg']
    assert same_as(store, snap)


def test_wrong_vault_password_fails_and_leaves_the_store(store, first):
    snap = snapshot(store)
    wrong = vault_loader(('default', VaultSecret(b'not-the-password')))
    result = run({'path': store, 'secrets': POLICIES, 'force': True, 'now': T0}, loader=wrong)
    assert result['failed'] is True
    assert 'cannot be decrypted' in result['msg'] and 'vault password' in result['msg']
    assert same_as(store, snap)
    for value in values_of(first):
        assert value not in result['msg']


def test_vault_id_picks_the_encryption_secret_and_any_loaded_secret_decrypts(store):
    loader = vault_loader(('lab', VaultSecret(b'lab-pass')), ('prod', VaultSecret(b'prod-pass')))
    result = run({'path': store, 'secrets': POLICIES, 'now': T0, 'vault_id': 'prod'}, loader=loader)
    assert result['changed'] is True
    with open(store, 'rb') as handle:
        assert handle.readline().rstrip() == b'$ANSIBLE_VAULT;1.2;AES256;prod'
    assert decrypt(store, b'prod-pass')['secrets']['webhook']['versions'][0]['version'] == 1
    # a run whose first secret is another one still reads it
    again = run({'path': store, 'secrets': POLICIES, 'now': T0}, loader=loader)
    assert again['changed'] is False and again['secrets']['webhook']['current'] == result['secrets']['webhook']['current']


def test_encrypt_false_writes_plain_yaml_0600(store):
    result = run({'path': store, 'secrets': POLICIES, 'now': T0, 'encrypt': False}, loader=no_vault_loader())
    assert result['changed'] is True and result['encrypted'] is False
    assert mode_of(store) == 0o600
    with open(store) as handle:
        text = handle.read()
    assert not text.startswith('$ANSIBLE_VAULT')
    on_disk = yaml.safe_load(text)
    assert on_disk['secrets']['webhook']['versions'][0]['value'] == result['secrets']['webhook']['current']
    snap = snapshot(store)
    again = run({'path': store, 'secrets': POLICIES, 'now': T0, 'encrypt': False}, loader=no_vault_loader())
    assert again['changed'] is False and same_as(store, snap)


def test_plain_store_with_encrypt_true_is_refused(store):
    run({'path': store, 'secrets': POLICIES, 'now': T0, 'encrypt': False})
    snap = snapshot(store)
    result = run({'path': store, 'secrets': POLICIES, 'now': '2030-01-01T00:00:00Z'})
    assert result['failed'] is True and 'encrypt' in result['msg'] and 'plain' in result['msg']
    assert same_as(store, snap)


def test_encrypted_store_with_encrypt_false_is_refused(store, first):
    snap = snapshot(store)
    result = run({'path': store, 'secrets': POLICIES, 'now': '2030-01-01T00:00:00Z', 'encrypt': False})
    assert result['failed'] is True and 'encrypt' in result['msg']
    assert same_as(store, snap)


def test_corrupt_store_is_reported_without_its_content(store):
    os.makedirs(os.path.dirname(store))
    leaked = 'Sup3r-Secret-Value-In-A-Broken-Line'
    plaintext = 'format: 1\nsecrets:\n  a:\n    versions: [{version: 1, value: %s, created: x: y}\n' % leaked
    with open(store, 'wb') as handle:
        handle.write(VaultLib([('default', VaultSecret(VAULT_PASS))]).encrypt(plaintext))
    snap = snapshot(store)
    result = run({'path': store, 'secrets': {'a': {}}, 'force': True})
    assert result['failed'] is True and 'not valid YAML' in result['msg'] and store in result['msg']
    assert leaked not in result['msg']
    assert same_as(store, snap)


def test_relative_path_is_relative_to_the_playbook_directory(tmp_path):
    loader = vault_loader()
    loader.set_basedir(str(tmp_path))
    result = run({'path': 'secrets/store.yml', 'secrets': {'a': {}}, 'now': T0}, loader=loader)
    assert result['path'] == str(tmp_path / 'secrets' / 'store.yml')
    assert os.path.isfile(result['path'])


def test_concurrent_runs_on_one_store_rotate_once(store, first, monkeypatch):
    """Several hosts (forks) running the task at once: the lock makes the first rotate and the others see it.

    No timing: run A holds the read-decide-write window open (inside rotate_reason) until runs B
    and C have each arrived - either at the lock, or, were the runs not serialised, inside the same
    window. Only then is A let go. Serialised, at most one run is ever inside the window.
    """
    context = multiprocessing.get_context('fork')
    guard = context.Lock()
    inside = context.Value('i', 0)
    most_inside = context.Value('i', 0)
    entered = context.Value('i', 0)
    first_inside = context.Event()
    proceed = context.Event()
    arrivals = context.Queue()
    results = context.Queue()
    me = {}
    real_reason = logic.rotate_reason

    def rotate_reason(*args):
        with guard:
            inside.value += 1
            most_inside.value = max(most_inside.value, inside.value)
            entered.value += 1
            am_first = entered.value == 1
        if am_first:
            first_inside.set()
        else:
            arrivals.put(('inside', me['name']))
        assert proceed.wait(60), 'the test never let the first run go'
        try:
            return real_reason(*args)
        finally:
            with guard:
                inside.value -= 1

    def flock(handle, operation):
        if me['name'] != 'A':
            arrivals.put(('at the lock', me['name']))
        return fcntl.flock(handle, operation)

    monkeypatch.setattr(logic, 'rotate_reason', rotate_reason)
    monkeypatch.setattr(action_module, 'fcntl', types.SimpleNamespace(
        flock=flock, LOCK_EX=fcntl.LOCK_EX, LOCK_SH=fcntl.LOCK_SH, LOCK_UN=fcntl.LOCK_UN))

    def worker(name):
        me['name'] = name
        done = run({'path': store, 'secrets': {'webhook': {}}, 'names': ['webhook'], 'now': '2025-06-01T00:00:00Z'})
        results.put((done.get('failed', False), done['rotated']))

    workers = {name: context.Process(target=worker, args=(name,)) for name in 'ABC'}
    workers['A'].start()
    assert first_inside.wait(60), 'run A never reached the read-decide-write window'
    workers['B'].start()
    workers['C'].start()
    arrived = sorted(arrivals.get(timeout=60)[1] for dummy in range(2))
    assert arrived == ['B', 'C']
    proceed.set()
    for process in workers.values():
        process.join(60)
    outcomes = [results.get(timeout=5) for dummy in workers]
    assert most_inside.value == 1, 'runs were inside the read-decide-write window together'
    assert [failed for failed, dummy in outcomes] == [False] * 3
    assert sorted(len(rotated) for dummy, rotated in outcomes) == [0, 0, 1]
    versions = decrypt(store)['secrets']['webhook']['versions']
    assert [v['version'] for v in versions] == [2, 1]
    assert versions[1]['value'] == first['secrets']['webhook']['current']


# ---- through ansible-playbook: the CLI's vault password reaches the plugin; -vvv shows no value ----

def playbook(tmp_path, extra):
    book = tmp_path / 'rotate.yml'
    book.write_text(textwrap.dedent('''\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Rotate
              flash.connect.secret_rotate:
                path: "{{ playbook_dir }}/store.vault.yml"
                secrets: {redis_app: {length: 40, alphabet: urlsafe}, webhook: {}}
                force: "{{ rotate_force | default(false) | bool }}"
              run_once: true
              no_log: true
              register: __rotation
            - name: Show the versions only
              ansible.builtin.debug:
                msg: "{{ __rotation.secrets | dict2items | map(attribute='value.version') | list }}"
            - name: Positive control, a value the search must find
              ansible.builtin.debug:
                msg: "{{ planted | default('nothing planted') }}"
        '''))
    env = isolated_ansible(tmp_path)
    env.pop('ANSIBLE_VAULT_PASSWORD_FILE', None)
    command = [ANSIBLE_PLAYBOOK, '-vvv', '--diff',
               '-i', 'localhost,', '-c', 'local', str(book)] + extra
    return subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)


def test_through_ansible_playbook_with_a_vault_password_file(tmp_path):
    password_file = tmp_path / 'vault-pass'
    password_file.write_text('cli-vault-pass\n')
    first = playbook(tmp_path, ['--vault-password-file', str(password_file)])
    assert first.returncode == 0, first.stdout + first.stderr
    store = tmp_path / 'store.vault.yml'
    on_disk = decrypt(str(store), b'cli-vault-pass')
    values = [v['value'] for entry in on_disk['secrets'].values() for v in entry['versions']]
    assert len(values) == 2
    output = first.stdout + first.stderr
    assert 'changed=1' in output
    for value in values:
        assert value not in output, 'a secret value appeared in the -vvv output'

    second = playbook(tmp_path, ['--vault-id', 'default@%s' % password_file])
    assert second.returncode == 0, second.stdout + second.stderr
    assert 'changed=0' in second.stdout
    assert decrypt(str(store), b'cli-vault-pass') == on_disk


def test_through_ansible_playbook_without_a_vault_password(tmp_path):
    done = playbook(tmp_path, [])
    assert done.returncode != 0
    assert 'vault password' in done.stdout + done.stderr
    assert not (tmp_path / 'store.vault.yml').exists()


def leaked(output, values):
    """The values that appear in the output (the search every output test uses)."""
    return sorted(value for value in values if value in output)


def test_a_rotating_run_under_vvv_and_diff_shows_no_old_or_new_value(tmp_path):
    """A run that changes something (every secret rotated), with -vvv --diff: no old or new value shows."""
    password_file = tmp_path / 'vault-pass'
    password_file.write_text('cli-vault-pass\n')
    created = playbook(tmp_path, ['--vault-password-file', str(password_file)])
    assert created.returncode == 0, created.stdout + created.stderr
    store = str(tmp_path / 'store.vault.yml')
    old = {name: entry['versions'][0]['value'] for name, entry in decrypt(store, b'cli-vault-pass')['secrets'].items()}

    planted = 'Planted-Marker-%s' % os.urandom(8).hex()
    rotated = playbook(tmp_path, ['--vault-password-file', str(password_file),
                                  '-e', 'rotate_force=true', '-e', 'planted=%s' % planted])
    output = rotated.stdout + rotated.stderr
    assert rotated.returncode == 0, output
    assert 'changed=1' in output
    on_disk = decrypt(store, b'cli-vault-pass')['secrets']
    new = {name: entry['versions'][0]['value'] for name, entry in on_disk.items()}
    assert all(entry['versions'][0]['version'] == 2 for entry in on_disk.values())
    assert set(new.values()).isdisjoint(old.values()), 'the run must really rotate every secret'
    # Positive control: the same search finds a value that is in the output.
    assert leaked(output, [planted]) == [planted]
    assert leaked(output, list(old.values()) + list(new.values())) == [], 'a secret value appeared in the -vvv --diff output'
