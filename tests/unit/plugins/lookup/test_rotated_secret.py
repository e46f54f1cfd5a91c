# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rotated_secret lookup on stores written by the secret_rotate action, encrypted and plain."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import textwrap

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible.template import Templar

from ansible_collections.flash.connect.plugins.action.secret_rotate import ActionModule
from ansible_collections.flash.connect.plugins.lookup import rotated_secret
from ansible_collections.flash.connect.plugins.plugin_utils import _secret_rotate as logic
from ansible_collections.flash.connect.tests.unit.plugins.action.harness import ANSIBLE_PLAYBOOK, isolated_ansible, run_action

VAULT_PASS = b'test-vault-pass'
T0 = '2025-01-01T00:00:00Z'
T1 = '2025-02-01T00:00:00Z'  # jwt_signing (30d) is due, redis_app (90d) is not
POLICIES = {
    'redis_app': {'length': 40, 'alphabet': 'urlsafe', 'period': '90d', 'overlap': '1d'},
    'jwt_signing': {'length': 64, 'alphabet': 'ascii', 'period': '30d', 'overlap': '12h'},
    'webhook': {'overlap': '0s'},
}


def vault_loader(password=VAULT_PASS):
    loader = DataLoader()
    loader.set_vault_secrets([('default', VaultSecret(password))])
    return loader


def no_vault_loader():
    loader = DataLoader()
    loader.set_vault_secrets([])
    return loader


def rotate(args, loader):
    """Run the secret_rotate action plugin, as a playbook would, to write the store."""
    result = run_action(ActionModule, 'flash.connect.secret_rotate', args, loader=loader)
    assert result.get('failed') is not True, result.get('msg')
    return result


FQCN = 'flash.connect.rotated_secret'
# What the plugin loader does on load: register the options of DOCUMENTATION with the config manager.
C.config.initialize_plugin_configuration_definitions('lookup', FQCN, yaml.safe_load(rotated_secret.DOCUMENTATION)['options'])


def lookup(loader, *terms, **options):
    """The plugin with the task's loader, as the templar calls it (the FQCN path: see the playbook tests)."""
    plugin = rotated_secret.LookupModule(loader=loader, templar=Templar(loader=loader))
    plugin._load_name = FQCN
    return plugin.run(list(terms), variables={}, **options)


def error_of(loader, *terms, **options):
    with pytest.raises(AnsibleLookupError) as caught:
        lookup(loader, *terms, **options)
    return str(caught.value)


@pytest.fixture(autouse=True)
def empty_cache():
    rotated_secret._CACHE.clear()
    yield
    rotated_secret._CACHE.clear()


@pytest.fixture(params=['encrypted', 'plain'])
def kind(request):
    return request.param


@pytest.fixture
def loader(kind):
    return vault_loader() if kind == 'encrypted' else no_vault_loader()


@pytest.fixture
def store(tmp_path, kind, loader):
    """A store with version 1 of every secret at T0, then jwt_signing (due) and webhook (forced) at T1."""
    path = str(tmp_path / 'env' / 'store.yml')
    encrypt = kind == 'encrypted'
    first = rotate({'path': path, 'secrets': POLICIES, 'now': T0, 'encrypt': encrypt}, loader)
    second = rotate({'path': path, 'secrets': POLICIES, 'now': T1, 'encrypt': encrypt, 'force': ['webhook']}, loader)
    assert second['rotated'] == ['jwt_signing', 'webhook']
    with open(path, 'rb') as handle:
        assert handle.read().startswith(b'$ANSIBLE_VAULT;') is encrypt
    return {'path': path, 'encrypt': encrypt, 'first': first['secrets'], 'second': second['secrets']}


def opts(store, **more):
    return dict(store=store['path'], encrypt=store['encrypt'], **more)


# ---- fields -----------------------------------------------------------------------------------

def test_current_is_the_current_value_of_each_term_in_order(loader, store):
    values = lookup(loader, 'redis_app', 'jwt_signing', 'webhook', **opts(store, now=T1))
    assert values == [store['second']['redis_app']['current'], store['second']['jwt_signing']['current'],
                      store['second']['webhook']['current']]
    assert values[1] != store['first']['jwt_signing']['current'], 'current must be the rotated value'
    assert lookup(loader, 'redis_app', **opts(store)) == [store['first']['redis_app']['current']]


def test_current_is_the_default_field(loader, store):
    assert lookup(loader, 'jwt_signing', **opts(store)) == lookup(loader, 'jwt_signing', **opts(store, field='current'))


def test_version_is_an_int(loader, store):
    assert lookup(loader, 'redis_app', 'jwt_signing', **opts(store, field='version')) == [1, 2]


def test_previous_inside_and_after_the_overlap_window(loader, store):
    old = store['first']['jwt_signing']['current']
    assert lookup(loader, 'jwt_signing', **opts(store, field='previous', now=T1)) == [old]
    assert lookup(loader, 'jwt_signing', **opts(store, field='previous', now='2025-02-01T11:59:59Z')) == [old]
    # jwt_signing's overlap is 12h: at 12:00:00 the previous value is no longer valid.
    assert lookup(loader, 'jwt_signing', **opts(store, field='previous', now='2025-02-01T12:00:00Z')) == ['']


def test_previous_is_empty_without_a_previous_version_or_with_overlap_0(loader, store):
    assert lookup(loader, 'redis_app', 'webhook', **opts(store, field='previous', now=T1)) == ['', '']


def test_valid_is_current_plus_previous_inside_the_window(loader, store):
    current = store['second']['jwt_signing']['current']
    old = store['first']['jwt_signing']['current']
    assert lookup(loader, 'jwt_signing', **opts(store, field='valid', now=T1)) == [[current, old]]
    assert lookup(loader, 'jwt_signing', **opts(store, field='valid', now='2025-02-01T12:00:00Z')) == [[current]]
    assert lookup(loader, 'redis_app', **opts(store, field='valid', now=T1)) == [[store['first']['redis_app']['current']]]


def test_the_action_reports_the_same_window(loader, store):
    """The lookup's window (from the overlap recorded in the store) matches the action's report."""
    report = rotate({'path': store['path'], 'secrets': POLICIES, 'encrypt': store['encrypt'],
                     'now': '2025-02-01T06:00:00Z'}, loader)['secrets']
    for name in POLICIES:
        previous = lookup(loader, name, **opts(store, field='previous', now='2025-02-01T06:00:00Z'))[0]
        assert previous == (report[name]['previous'] or '')


def test_relative_store_is_relative_to_the_loader_basedir(loader, store):
    loader.set_basedir(os.path.dirname(os.path.dirname(store['path'])))
    values = lookup(loader, 'redis_app', store='env/store.yml', encrypt=store['encrypt'])
    assert values == [store['first']['redis_app']['current']]


# ---- errors: they name the problem, never a value ------------------------------------------------

def all_values(store):
    return [report[key] for reports in (store['first'], store['second']) for report in reports.values()
            for key in ('current', 'previous') if report[key]]


def test_missing_store(loader, tmp_path):
    message = error_of(loader, 'redis_app', store=str(tmp_path / 'nope.yml'))
    assert 'does not exist' in message and 'nope.yml' in message
    assert 'run the rotate_secrets or site playbook first, or check the path' in message


def test_unknown_secret_is_named(loader, store):
    message = error_of(loader, 'redis_app', 'rabbitmq_app', **opts(store))
    assert "'rabbitmq_app' is not in the store" in message
    assert 'redis_app' in message  # the known names help
    assert not [value for value in all_values(store) if value in message]


def test_plain_store_with_encrypt_true_names_encrypt(tmp_path):
    path = str(tmp_path / 'plain.yml')
    rotate({'path': path, 'secrets': POLICIES, 'now': T0, 'encrypt': False}, no_vault_loader())
    for loader in (no_vault_loader(), vault_loader()):
        message = error_of(loader, 'redis_app', store=path)  # encrypt defaults to true
        assert message.startswith('encrypt:') and 'plain text' in message


def test_encrypted_store_with_encrypt_false_names_encrypt(tmp_path):
    path = str(tmp_path / 'enc.yml')
    rotate({'path': path, 'secrets': POLICIES, 'now': T0}, vault_loader())
    message = error_of(vault_loader(), 'redis_app', store=path, encrypt=False)
    assert message.startswith('encrypt:') and 'vault-encrypted' in message


def test_encrypted_store_without_a_vault_secret(tmp_path):
    path = str(tmp_path / 'enc.yml')
    first = rotate({'path': path, 'secrets': POLICIES, 'now': T0}, vault_loader())
    message = error_of(no_vault_loader(), 'redis_app', store=path)
    assert 'no vault password is loaded' in message and '--vault-password-file' in message
    assert first['secrets']['redis_app']['current'] not in message
    # Also when an earlier lookup in this process has the store cached.
    assert lookup(vault_loader(), 'redis_app', store=path) == [first['secrets']['redis_app']['current']]
    assert 'no vault password is loaded' in error_of(no_vault_loader(), 'redis_app', store=path)


def test_wrong_vault_password(tmp_path):
    path = str(tmp_path / 'enc.yml')
    rotate({'path': path, 'secrets': POLICIES, 'now': T0}, vault_loader())
    message = error_of(vault_loader(b'not-the-password'), 'redis_app', store=path)
    assert message.startswith('vault password:') and 'cannot be decrypted' in message


def test_corrupt_store_is_reported_without_its_content(tmp_path):
    path = str(tmp_path / 'bad.yml')
    with open(path, 'w') as handle:
        handle.write('format: 1\nsecrets:\n  x: {versions: [{version: 1, value: s3cr3t-value, created: nope}]}\n')
    message = error_of(no_vault_loader(), 'x', store=path, encrypt=False)
    assert 'created' in message and 's3cr3t-value' not in message


@pytest.mark.parametrize('options, expected', [
    ({'now': 'yesterday'}, 'now:'),
])
def test_bad_now_names_the_option(tmp_path, options, expected):
    path = str(tmp_path / 'plain.yml')
    rotate({'path': path, 'secrets': POLICIES, 'now': T0, 'encrypt': False}, no_vault_loader())
    assert error_of(no_vault_loader(), 'redis_app', store=path, encrypt=False, **options).startswith(expected)


def test_bad_field_is_refused(tmp_path):
    path = str(tmp_path / 'plain.yml')
    rotate({'path': path, 'secrets': POLICIES, 'now': T0, 'encrypt': False}, no_vault_loader())
    with pytest.raises(AnsibleError) as caught:
        lookup(no_vault_loader(), 'redis_app', store=path, encrypt=False, field='all')
    assert 'field' in str(caught.value)


def test_no_terms_and_missing_store_option(tmp_path):
    assert error_of(no_vault_loader(), store=str(tmp_path / 'x.yml')).startswith('terms:')
    with pytest.raises(AnsibleError) as caught:
        lookup(no_vault_loader(), 'redis_app')
    assert 'store' in str(caught.value)


# ---- cache ----------------------------------------------------------------------------------------

def count_decrypts(monkeypatch):
    calls = []
    original = VaultLib.decrypt

    def decrypt(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(VaultLib, 'decrypt', decrypt)
    return calls


def count_loads(monkeypatch):
    calls = []
    original = logic.load_store

    def load_store(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(logic, 'load_store', load_store)
    return calls


def test_hundreds_of_lookups_read_and_decrypt_once(loader, store, monkeypatch):
    decrypts = count_decrypts(monkeypatch)
    loads = count_loads(monkeypatch)
    for dummy in range(200):
        assert lookup(loader, 'redis_app', **opts(store)) == [store['first']['redis_app']['current']]
    assert len(loads) == 1
    assert len(decrypts) == (1 if store['encrypt'] else 0)


def test_a_rewritten_store_is_read_again(loader, store, monkeypatch):
    before = lookup(loader, 'redis_app', **opts(store, field='valid', now=T1))
    loads = count_loads(monkeypatch)
    rotated = rotate({'path': store['path'], 'secrets': POLICIES, 'encrypt': store['encrypt'], 'now': T1,
                      'force': ['redis_app']}, loader)['secrets']['redis_app']
    after = lookup(loader, 'redis_app', **opts(store, field='valid', now=T1))
    assert after == [[rotated['current'], before[0][0]]] and after != before
    assert lookup(loader, 'redis_app', **opts(store, field='version')) == [2]
    assert len(loads) == 2  # the action's read and the lookup's, then the lookup's cache
    assert len(rotated_secret._CACHE) == 1, 'the entry of the old file must be dropped'


def test_a_rewrite_with_the_same_size_and_mtime_is_read_again(tmp_path):
    """An atomic rewrite (new inode) is seen even when size and mtime are the same."""
    path = str(tmp_path / 'plain.yml')

    def write(letter, like=None):
        store = logic.empty_store()
        logic.add_version(store, 'webhook', letter * 32, logic.parse_time(T0, 'now'), 0)
        staged = str(tmp_path / 'staged.yml')
        with open(staged, 'w') as handle:
            handle.write(logic.dump_store(store))
        if like is not None:
            os.utime(staged, ns=(like.st_atime_ns, like.st_mtime_ns))
        os.replace(staged, path)
        return os.stat(path)

    first = write('A')
    loader = no_vault_loader()
    assert lookup(loader, 'webhook', store=path, encrypt=False) == ['A' * 32]
    second = write('B', like=first)
    assert (second.st_size, second.st_mtime_ns) == (first.st_size, first.st_mtime_ns)
    assert lookup(loader, 'webhook', store=path, encrypt=False) == ['B' * 32]


# ---- through ansible-playbook: FQCN resolution, the CLI's vault password, lookup() and query() ------

def playbook(tmp_path, tasks, extra):
    book = tmp_path / 'site.yml'
    book.write_text(textwrap.dedent('''\
        - hosts: localhost
          gather_facts: false
          vars:
            store: "{{ playbook_dir }}/store.vault.yml"
          tasks:
            - name: Create the secrets
              flash.connect.secret_rotate:
                path: "{{ store }}"
                secrets: {redis_app: {}, webhook: {}}
                create_only: true
              no_log: true
              register: __created
        ''') + textwrap.indent(textwrap.dedent(tasks), '    '))
    env = isolated_ansible(tmp_path)
    env.pop('ANSIBLE_VAULT_PASSWORD_FILE', None)
    command = [ANSIBLE_PLAYBOOK, '-v',
               '-i', 'localhost,', '-c', 'local', str(book)] + extra
    return subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)


def test_through_ansible_playbook_with_a_vault_password_file(tmp_path):
    password_file = tmp_path / 'vault-pass'
    password_file.write_text('cli-vault-pass\n')
    done = playbook(tmp_path, '''\
        - name: The lookup gives what the module created
          ansible.builtin.assert:
            that:
              - lookup('flash.connect.rotated_secret', 'redis_app', store=store) is string
              - lookup('flash.connect.rotated_secret', 'redis_app', store=store) == __created.secrets.redis_app.current
              - query('flash.connect.rotated_secret', 'redis_app', 'webhook', store=store)
                == [__created.secrets.redis_app.current, __created.secrets.webhook.current]
              - query('flash.connect.rotated_secret', 'webhook', store=store, field='version') == [1]
              - lookup('flash.connect.rotated_secret', 'webhook', store=store, field='previous') == ''
              - lookup('flash.connect.rotated_secret', 'webhook', store=store, field='valid', wantlist=true)
                == [[__created.secrets.webhook.current]]
          no_log: true
        ''', ['--vault-password-file', str(password_file)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'ok=2' in done.stdout and 'failed=0' in done.stdout


def test_through_ansible_playbook_an_unknown_secret_fails_naming_it(tmp_path):
    password_file = tmp_path / 'vault-pass'
    password_file.write_text('cli-vault-pass\n')
    done = playbook(tmp_path, '''\
        - name: Read a secret the store does not have
          ansible.builtin.debug:
            msg: "{{ lookup('flash.connect.rotated_secret', 'rabbitmq_app', store=store) | length }}"
        ''', ['--vault-password-file', str(password_file)])
    assert done.returncode != 0
    assert "'rabbitmq_app' is not in the store" in done.stdout + done.stderr
