# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of flash.connect.secret_rotate: runs entirely on the controller (see the module's docs)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import fcntl
import os
import stat
import tempfile

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.parsing.vault import VaultLib, is_encrypted
from ansible.plugins.action import ActionBase

from ansible_collections.flash.connect.plugins.plugin_utils import _secret_rotate as logic

ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    secrets=dict(type='dict', required=True),
    names=dict(type='list', elements='str'),
    force=dict(type='raw', default=False),
    create_only=dict(type='bool', default=False),
    encrypt=dict(type='bool', default=True),
    vault_id=dict(type='str'),
    now=dict(type='str'),
)

NO_VAULT_PASSWORD = (
    'encrypt: the store must be encrypted but no vault password is loaded. Give one with'
    ' --vault-password-file FILE or --vault-id LABEL@SOURCE (or ANSIBLE_VAULT_PASSWORD_FILE),'
    ' or attach a vault credential to the AWX job template; encrypt=false is for the lab only.'
)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            result.update(self._rotate(args))
        except logic.SecretRotateError as exc:
            result.update(failed=True, changed=False, msg=to_text(exc))
        return result

    # ---- steps -----------------------------------------------------------------------------

    def _rotate(self, args):
        # 1. Everything about the input, before the store is read or written.
        policies = logic.validate_policies(args['secrets'])
        selected = logic.select_names(args['names'], policies)
        forced = logic.parse_force(args['force'], policies, selected)
        create_only = args['create_only']
        if create_only and forced:
            raise logic.SecretRotateError('create_only: cannot be combined with force (forced: %s); create_only never'
                                          ' rotates, run without create_only to rotate' % ', '.join(sorted(forced)))
        now = logic.parse_time(args['now'], 'now') if args['now'] else logic.utc_now()
        encrypt = args['encrypt']
        path = logic.store_path(self._loader, args['path'])
        vault, vault_secret, vault_id = self._vault_for(encrypt, args['vault_id'])
        check_mode = bool(self._task.check_mode)

        with self._locked(os.path.dirname(path), check_mode):
            # 2. The store as it is.
            store = self._read_store(path, encrypt, vault)
            before = logic.version_lines(store)

            # 3. Decide and (outside check mode) generate.
            reports = {}
            rotated = []
            for name in selected:
                policy = policies[name]
                reason = logic.rotate_reason(logic.versions_of(store, name), policy, name in forced, now)
                if create_only and reason != 'new':
                    reason = None  # a due secret is only reported (its due date), never rotated here
                if reason:
                    value = None if check_mode else self._fresh_value(store, name, policy)
                    logic.add_version(store, name, value, now, policy.overlap)
                    rotated.append(name)
                reports[name] = logic.describe(logic.versions_of(store, name), policy, now)
                reports[name]['rotated'] = name in rotated

            # 4. Write only when something rotated; never to prune or reformat.
            if rotated and not check_mode:
                try:
                    self._write_store(path, logic.dump_store(store), vault, vault_secret, vault_id)
                except OSError as exc:
                    raise logic.SecretRotateError('path: cannot write the store %s: %s' % (path, exc.strerror or exc))

        out = dict(
            changed=bool(rotated),
            rotated=sorted(rotated),
            encrypted=encrypt,
            path=path,
            secrets=reports,
            msg=self._summary(rotated, create_only),
        )
        if self._task.diff:
            out['diff'] = dict(before=before, after=logic.version_lines(store),
                               before_header=path, after_header=path)
        return out

    @staticmethod
    def _summary(rotated, create_only):
        if create_only:
            return ('created: %s' % ', '.join(rotated)) if rotated else 'every selected secret exists'
        return ('rotated: %s' % ', '.join(rotated)) if rotated else 'nothing due'

    def _vault_for(self, encrypt, vault_id):
        """(VaultLib for reading, secret and id for writing); all None when the store is plain."""
        if not encrypt:
            return None, None, None
        loaded = logic.loaded_vault_secrets(self._loader)
        if not loaded:
            raise logic.SecretRotateError(NO_VAULT_PASSWORD)
        if vault_id is None:
            vault_id, secret = loaded[0]
        else:
            matches = [secret for label, secret in loaded if label == vault_id]
            if not matches:
                raise logic.SecretRotateError('vault_id: no loaded vault secret has the id %r (loaded: %s)'
                                              % (vault_id, ', '.join(sorted(set(label for label, dummy in loaded)))))
            secret = matches[0]
        return VaultLib(loaded), secret, vault_id

    @contextlib.contextmanager
    def _locked(self, directory, check_mode):
        """Serialise runs on one store (several hosts or jobs): an advisory lock on its directory."""
        while not os.path.isdir(directory):  # first run: the store's directory is created later
            directory = os.path.dirname(directory)
        handle = os.open(directory, os.O_RDONLY)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH if check_mode else fcntl.LOCK_EX)
            except OSError as exc:
                self._display.warning('secret_rotate: could not lock %s (%s); use run_once: true' % (directory, exc))
            yield
        finally:
            os.close(handle)  # closing releases the lock

    def _read_store(self, path, encrypt, vault):
        try:
            with open(path, 'rb') as handle:
                data = handle.read()
        except FileNotFoundError:
            return logic.empty_store()
        except OSError as exc:
            raise logic.SecretRotateError('path: cannot read the store %s: %s' % (path, exc.strerror))

        if is_encrypted(data):
            if not encrypt:
                raise logic.SecretRotateError('encrypt: the store %s is vault-encrypted but encrypt=false; refusing to'
                                              ' write it back in plain text' % path)
            try:
                data = vault.decrypt(data)
            except AnsibleError:
                raise logic.SecretRotateError('vault password: the store %s cannot be decrypted with the loaded vault'
                                              ' password(s); give the right one with --vault-password-file or'
                                              ' --vault-id (or the AWX vault credential). Nothing was written.' % path)
        elif encrypt and data.strip():
            raise logic.SecretRotateError('encrypt: the store %s is plain text but encrypt=true; encrypt it first'
                                          ' (ansible-vault encrypt %s) or set encrypt=false in the lab' % (path, path))
        try:
            text = to_text(data, errors='strict')
        except UnicodeError:
            raise logic.SecretRotateError('path: the store %s is not UTF-8 text' % path)
        return logic.load_store(text, path)

    @staticmethod
    def _fresh_value(store, name, policy):
        old = set(version['value'] for version in logic.versions_of(store, name))
        value = logic.generate(policy)
        while value in old:  # astronomically unlikely; never hand back the same value as "new"
            value = logic.generate(policy)
        return value

    @staticmethod
    def _write_store(path, plaintext, vault, vault_secret, vault_id):
        if vault is not None:
            data = vault.encrypt(plaintext, secret=vault_secret, vault_id=vault_id)
        else:
            data = to_bytes(plaintext, errors='strict')

        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
            os.chmod(directory, 0o700)

        fd, tmp_path = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as handle:
                os.fchmod(handle.fileno(), stat.S_IRUSR | stat.S_IWUSR)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_path, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)
            raise

        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
