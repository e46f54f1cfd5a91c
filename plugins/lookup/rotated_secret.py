# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: rotated_secret
short_description: Read a secret from the versioned store of flash.connect.secret_rotate
version_added: 0.1.0
description:
  - Reads secrets from the store file that M(flash.connect.secret_rotate) keeps on the controller
    (vault-encrypted, or plain YAML in the lab) and returns, per secret name, its current value,
    its previous value while that is inside its overlap window, both, or the version number.
  - The previous version is valid until the current version's creation plus the overlap recorded in
    the store at the last rotation (the secret's C(overlap) policy then). A store entry without a
    recorded overlap (written before it was recorded) has no overlap window.
  - The lookup never creates or rotates a secret; run M(flash.connect.secret_rotate) first (the
    C(site) playbook creates missing secrets, C(rotate_secrets) rotates them).
  - The store is read and decrypted once per process and kept in memory while its file is unchanged
    (same real path, modification time, size and inode); a rewritten store is read again. Ansible runs
    each task in a worker process of its own, so this saves the work within a task (loops, templates
    with many lookups), not across tasks.
  - 'Errors name the problem (missing store, unknown secret, missing vault password, wrong option),
    never a value. B(The result is a secret); use C(no_log: true) on tasks that show it.'
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  _terms:
    description: One or more secret names, each a key of the store.
    type: list
    elements: str
    required: true
  store:
    description:
      - The store file of M(flash.connect.secret_rotate) (its I(path)) on the controller.
      - A relative path is relative to the playbook's directory, as for the module; C(~) is expanded.
    type: str
    required: true
  encrypt:
    description:
      - Whether the store is vault-encrypted, as the module's I(encrypt).
      - The vault password comes from Ansible's usual sources (C(--vault-password-file), C(--vault-id),
        C(ANSIBLE_VAULT_PASSWORD_FILE) or an AWX vault credential); every loaded vault secret is tried.
      - A plain store read with V(true), or an encrypted store read with V(false), is an error naming C(encrypt).
    type: bool
    default: true
  field:
    description:
      - What to return for each secret.
      - V(current) is the current value.
      - V(previous) is the previous value while it is inside its overlap window, else an empty string.
      - V(valid) is a list of the current value, followed by the previous value while it is inside its
        overlap window; for services that accept two passwords during a rotation.
      - V(version) is the current version number (an integer).
    type: str
    default: current
    choices: [current, previous, valid, version]
  now:
    description:
      - For tests and drills only, an ISO 8601 UTC time (like V(2025-01-31T12:00:00Z)) used instead of
        the clock to decide whether the previous version is still inside its overlap window.
    type: str
notes:
  - The lookup runs on the controller and reads only the store file.
seealso:
  - module: flash.connect.secret_rotate
'''

EXAMPLES = r'''
- name: Give the application its current Redis password
  ansible.builtin.template:
    src: app.env.j2
    dest: /etc/flash/app.env
    mode: "0600"
  vars:
    app_redis_password: "{{ lookup('flash.connect.rotated_secret', 'redis_app', store=rotation_store) }}"
  no_log: true

- name: Accept the current and, during the overlap window, the previous password
  ansible.builtin.set_fact:
    _redis_passwords: >-
      {{ lookup('flash.connect.rotated_secret', 'redis_app', store=rotation_store, field='valid') }}
  no_log: true

- name: Several secrets at once, as a list (one value per name)
  ansible.builtin.set_fact:
    _app_keys: >-
      {{ query('flash.connect.rotated_secret', 'app_jwt', 'app_session', store=rotation_store) }}
  no_log: true

- name: The lab's plain store, and the version number of a secret
  ansible.builtin.debug:
    msg: >-
      redis_app is at version
      {{ lookup('flash.connect.rotated_secret', 'redis_app', store=rotation_store, encrypt=false, field='version') }}
'''

RETURN = r'''
_raw:
  description:
    - One entry per secret name, in the order of the terms.
    - A string for O(field=current) and O(field=previous) (empty when the previous version is not valid),
      a list of strings for O(field=valid), an integer for O(field=version).
    - With C(lookup()) and one name, the entry itself.
  type: list
  elements: raw
'''

import os
import threading

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.parsing.vault import VaultLib, is_encrypted
from ansible.plugins.lookup import LookupBase

from ansible_collections.flash.connect.plugins.plugin_utils import _secret_rotate as logic

NO_STORE = ('store: the secret store %s does not exist (flash.connect.secret_rotate creates it);'
            ' run the rotate_secrets or site playbook first, or check the path')
NO_VAULT_PASSWORD = ('store: %s is vault-encrypted but no vault password is loaded. Give one with'
                     ' --vault-password-file FILE or --vault-id LABEL@SOURCE (or ANSIBLE_VAULT_PASSWORD_FILE),'
                     ' or attach a vault credential to the AWX job template')

# (realpath, mtime_ns, size, inode) -> (encrypted, store); one entry per real path.
_CACHE = {}
_CACHE_LOCK = threading.Lock()


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        field = self.get_option('field')
        encrypt = self.get_option('encrypt')
        try:
            now = logic.parse_time(self.get_option('now'), 'now') if self.get_option('now') else logic.utc_now()
            names = self._names(terms)
            path = self._store_path(self.get_option('store'))
            store = self._store(path, encrypt)
            return [self._value(store, path, name, field, now) for name in names]
        except logic.SecretRotateError as exc:
            raise AnsibleLookupError(to_native(exc))

    # ---- steps -----------------------------------------------------------------------------

    @staticmethod
    def _names(terms):
        names = []
        for term in terms:
            items = term if isinstance(term, (list, tuple)) else [term]
            for item in items:
                if not isinstance(item, str) or not item.strip():
                    raise logic.SecretRotateError('terms: a secret name (a non-empty string) is expected, got %s'
                                                  % type(item).__name__)
                names.append(item.strip())
        if not names:
            raise logic.SecretRotateError('terms: give at least one secret name')
        return names

    def _store_path(self, path):
        if not path:
            raise logic.SecretRotateError('store: the path of the secret store is required')
        return logic.store_path(self._loader, path)

    def _store(self, path, encrypt):
        """The parsed store, from the cache while the file is unchanged."""
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise logic.SecretRotateError(NO_STORE % path)
        except OSError as exc:
            raise logic.SecretRotateError('store: cannot read the secret store %s: %s' % (path, exc.strerror))
        key = (path, info.st_mtime_ns, info.st_size, info.st_ino)

        with _CACHE_LOCK:
            cached = _CACHE.get(key)
        loaded = logic.loaded_vault_secrets(self._loader)
        if cached is None:
            encrypted, store = self._read(path, loaded)
            with _CACHE_LOCK:
                for old in [old for old in _CACHE if old[0] == path]:
                    del _CACHE[old]
                _CACHE[key] = (encrypted, store)
        else:
            encrypted, store = cached
            if encrypted and not loaded:  # the same rule with or without the cache
                raise logic.SecretRotateError(NO_VAULT_PASSWORD % path)

        if encrypted and not encrypt:
            raise logic.SecretRotateError('encrypt: the store %s is vault-encrypted but encrypt=false; set encrypt=true'
                                          ' (and load the vault password)' % path)
        if not encrypted and encrypt:
            raise logic.SecretRotateError('encrypt: the store %s is plain text but encrypt=true; set encrypt=false for'
                                          ' a plain (lab) store, or encrypt it (ansible-vault encrypt %s)' % (path, path))
        return store

    @staticmethod
    def _read(path, loaded):
        """(encrypted, store) from the file; decrypts with every loaded vault secret."""
        try:
            with open(path, 'rb') as handle:
                data = handle.read()
        except FileNotFoundError:
            raise logic.SecretRotateError(NO_STORE % path)
        except OSError as exc:
            raise logic.SecretRotateError('store: cannot read the secret store %s: %s' % (path, exc.strerror))

        encrypted = is_encrypted(data)
        if encrypted:
            if not loaded:
                raise logic.SecretRotateError(NO_VAULT_PASSWORD % path)
            try:
                data = VaultLib(loaded).decrypt(data)
            except AnsibleError:
                raise logic.SecretRotateError('vault password: the store %s cannot be decrypted with the loaded vault'
                                              ' password(s); give the right one with --vault-password-file or'
                                              ' --vault-id (or the AWX vault credential)' % path)
        try:
            text = to_text(data, errors='strict')
        except UnicodeError:
            raise logic.SecretRotateError('store: the store %s is not UTF-8 text' % path)
        return encrypted, logic.load_store(text, path)

    @staticmethod
    def _value(store, path, name, field, now):
        versions = logic.versions_of(store, name)
        if not versions:
            known = ', '.join(sorted(str(key) for key in store['secrets'])) or 'none'
            raise logic.SecretRotateError('terms: the secret %r is not in the store %s (known: %s); add it to the'
                                          ' policies and run the site or rotate_secrets playbook' % (name, path, known))
        current = versions[0]
        if field == 'version':
            return current['version']
        if field == 'current':
            return current['value']
        previous, dummy = logic.previous_in_window(versions, logic.stored_overlap(store, name), now)
        if field == 'previous':
            return previous['value'] if previous is not None else ''
        return [current['value']] + ([previous['value']] if previous is not None else [])
