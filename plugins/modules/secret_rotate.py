#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This is a virtual module: it is entirely implemented as an action plugin
# (plugins/action/secret_rotate.py) and runs on the controller.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: secret_rotate
short_description: Keep versioned secrets in an Ansible Vault-encrypted store on the controller and rotate them when due
version_added: 0.1.0
description:
  - Keeps the secrets of one environment (passwords, signing keys) in a store file on the Ansible
    controller, encrypted with Ansible Vault, with the current and the previous version of each secret.
  - Each run looks at the selected secrets and adds a new version to a secret that has none yet,
    whose current version is older than its rotation I(period), or that is listed in I(force).
    Otherwise it changes nothing and does not rewrite the store, so running it again is safe.
  - After a rotation the previous version is returned as RV(secrets.previous) for the I(overlap)
    window (counted from the creation of the current version), so that clients can move over to
    the new value while the old one is still accepted. After the window it is returned as V(null);
    the store is not rewritten for that.
  - Values are generated with Python's C(secrets) module (the operating system's CSPRNG) following
    a policy per secret, which must give at least 24 characters and 128 bits of entropy.
  - All input is checked before the store is read or written, and every error names the option at
    fault (for example C(secrets.redis_app.length)). Error messages and the diff never contain values.
  - 'The result contains the secret values. B(Always use the task with no_log), that is C(no_log: true), and
    C(run_once: true) when the play has several hosts (the store is on the controller; an advisory
    lock also serialises concurrent runs on one store).'
  - This module runs on the controller only; it never connects to the target.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  path:
    description:
      - The store file on the controller, one per environment, for example
        C({{ inventory_dir }}/secrets/store.vault.yml).
      - A relative path is relative to the playbook's directory.
      - Written atomically (a temporary file in the same directory, fsync, rename) with mode C(0600);
        a missing parent directory is created with mode C(0700).
      - 'The store is a YAML document C({format: 1, secrets: {NAME: {versions: [{version, value, created}], overlap: SECONDS}}})
        holding at most the two newest versions of a secret, and the I(secrets.overlap) in force at the
        last rotation (which the P(flash.connect.rotated_secret#lookup) lookup uses). Secrets in the
        store that are not in I(secrets) are kept as they are.'
    type: path
    required: true
  secrets:
    description:
      - The secrets this environment has, as a mapping of secret name to its policy. Names use
        letters, digits, C(.), C(_) and C(-).
      - 'A policy is a dict with the keys C(length) (integer, default V(32), at least V(24)),
        C(alphabet) (default V(alnum)), C(period) (the rotation period, default V(90d)) and
        C(overlap) (how long the previous version stays valid after a rotation, default V(1d)).
        An empty policy (V({}) or V(null)) takes all defaults; any other key is an error.'
      - 'C(alphabet) is one of V(alnum) (C(A-Za-z0-9)), V(hex) (C(0-9a-f)), V(urlsafe)
        (C(A-Za-z0-9-_)) or V(ascii) (printable ASCII without space, quotes C(" '' `) and backslash).
        V(ascii) is not URL-safe (it holds C(@ / # ? % :)); build URLs that carry such a value with the
        C(flash.connect.amqp_url) or C(flash.connect.redis_url) filter, which percent-encode it.'
      - Durations are a number followed by C(w), C(d), C(h), C(m) or C(s) (V(90d), V(12h), V(1d12h)),
        or an integer number of seconds. C(period) must be above 0 and C(overlap) no longer than C(period).
      - The policy must give at least 128 bits of entropy (C(length) times log2 of the alphabet size),
        so for example V(hex) needs a C(length) of at least V(32).
      - A policy change (length, alphabet) applies from the next rotation; use I(force) to apply it now.
    type: dict
    required: true
  names:
    description:
      - Which secrets to consider in this run, for example a selection from an AWX survey.
      - Defaults to every secret in I(secrets). Each name must be a key of I(secrets).
    type: list
    elements: str
  force:
    description:
      - Rotate now even if not due, for example after a leak.
      - V(true) forces every selected secret; a list forces only the secrets named (each must be
        in I(secrets) and selected by I(names)). A comma-separated string is read as a list.
      - Forcing creates one new version per run, so a second forced run rotates again.
      - Forcing a secret together with I(create_only=true) is an error.
    type: raw
    default: false
  create_only:
    description:
      - Only create the missing secrets, never rotate.
      - With V(true) a selected secret that has no version yet gets version 1 (the task reports changed),
        and a secret whose rotation is due keeps its current version; it is reported with
        RV(secrets.rotated=false) and its RV(secrets.due) date.
      - For C(site.yml) so that every secret exists before any role reads it, while only the rotation
        playbook rotates.
      - Cannot be combined with I(force) (V(true) or a non-empty list); the error names C(create_only).
    type: bool
    default: false
  encrypt:
    description:
      - Keep the store encrypted with Ansible Vault.
      - The vault password comes from Ansible's usual sources (C(--vault-password-file),
        C(--vault-id), C(ANSIBLE_VAULT_PASSWORD_FILE) or an AWX vault credential). When none is
        loaded the task fails before anything is written.
      - V(false) is for the lab only; the store is then a plain YAML file with mode C(0600) and the
        result says RV(encrypted=false).
      - An existing store that is plain while I(encrypt=true), or encrypted while I(encrypt=false),
        is an error; the module never silently changes how the store is protected.
    type: bool
    default: true
  vault_id:
    description:
      - The id (label) of the loaded vault secret to encrypt with, as given with C(--vault-id LABEL@SOURCE).
      - Defaults to the first loaded vault secret. Decryption tries every loaded vault secret.
    type: str
  now:
    description:
      - For tests and drills only, an ISO 8601 UTC time (like V(2025-01-31T12:00:00Z)) used instead of the clock.
    type: str
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is generated or written. A secret that would rotate is reported with
        its new version number and RV(secrets.current=null); RV(secrets.previous) is then the value
        that would become the previous one.
  diff_mode:
    support: full
    details:
      - 'The diff lists, per secret, C(NAME: version N created TIME) lines before and after. It never
        contains a value.'
  platform:
    platforms: posix
notes:
  - 'The store file itself is the only thing written. The plugin logs no value at any verbosity, but
    the task result carries the values, so use C(no_log: true) on this task and on every task that
    uses them.'
  - Timestamps are UTC. A rotation is due when the current version is at least I(secrets.period) old.
seealso:
  - plugin: flash.connect.rotated_secret
    plugin_type: lookup
  - module: flash.connect.health_gate
'''

EXAMPLES = r'''
- name: Rotate the production secrets that are due
  flash.connect.secret_rotate:
    path: "{{ inventory_dir }}/secrets/store.vault.yml"
    secrets:
      redis_app: {length: 40, alphabet: urlsafe, period: 90d, overlap: 1d}
      rabbitmq_app: {length: 32, period: 90d, overlap: 2h}
      jwt_signing: {length: 64, alphabet: ascii, period: 30d, overlap: 12h}
      webhook: {}
  run_once: true
  no_log: true
  register: __rotation

- name: Emergency rotation of one leaked secret, from an AWX job with a vault credential
  flash.connect.secret_rotate:
    path: "{{ inventory_dir }}/secrets/store.vault.yml"
    secrets: "{{ flash_secret_policies }}"
    names: [rabbitmq_app]
    force: true
    vault_id: prod
  run_once: true
  no_log: true
  register: __rotation

- name: In site.yml - create the secrets that have no version yet, never rotate a due one
  flash.connect.secret_rotate:
    path: "{{ inventory_dir }}/secrets/store.vault.yml"
    secrets: "{{ flash_secret_policies }}"
    create_only: true
  run_once: true
  no_log: true

- name: Lab only - a plain store the lab generates for itself
  flash.connect.secret_rotate:
    path: "{{ playbook_dir }}/../.lab/secrets.yml"
    secrets:
      redis_app: {}
    encrypt: false
  run_once: true
  no_log: true
  register: __lab_secrets

- name: Use the current value, and accept the previous one during the overlap window
  ansible.builtin.set_fact:
    _app_redis_passwords: >-
      {{ [__rotation.secrets.redis_app.current]
         + ([__rotation.secrets.redis_app.previous] if __rotation.secrets.redis_app.previous else []) }}
  no_log: true
'''

RETURN = r'''
changed:
  description: Whether a secret was rotated (would be, in check mode).
  returned: always
  type: bool
  sample: true
rotated:
  description:
    - The secrets rotated in this run (would be, in check mode), sorted.
    - With I(create_only=true), the secrets created in this run.
  returned: always
  type: list
  elements: str
  sample: [redis_app]
encrypted:
  description: Whether the store is vault-encrypted.
  returned: always
  type: bool
  sample: true
path:
  description: The absolute path of the store.
  returned: always
  type: str
  sample: /srv/flash/inventories/prod/secrets/store.vault.yml
secrets:
  description:
    - 'Every selected secret, by name. B(Contains the secret values); use C(no_log: true).'
  returned: always
  type: dict
  contains:
    version:
      description: The current version number (starts at 1).
      type: int
      sample: 3
    created:
      description: When the current version was created (ISO 8601 UTC).
      type: str
      sample: '2025-01-31T12:00:00Z'
    due:
      description: When the next rotation is due (ISO 8601 UTC).
      type: str
      sample: '2025-05-01T12:00:00Z'
    current:
      description:
        - The current value.
        - V(null) in check mode for a secret that would rotate (no value is generated in check mode).
      type: str
      sample: 'X9...'
    previous:
      description:
        - The previous value while it is still valid (before RV(secrets.previous_valid_until)), else V(null).
      type: str
      sample: 'k3...'
    previous_version:
      description: The previous version number while it is still valid, else V(null).
      type: int
      sample: 2
    previous_valid_until:
      description:
        - The end of the overlap window (current version's creation plus I(secrets.overlap)) while the
          previous version is still valid, else V(null).
      type: str
      sample: '2025-02-01T12:00:00Z'
    rotated:
      description: Whether this secret got (would get, in check mode) a new version in this run.
      type: bool
      sample: true
  sample:
    redis_app:
      version: 2
      created: '2025-01-31T12:00:00Z'
      due: '2025-05-01T12:00:00Z'
      current: VALUE
      previous: OLD_VALUE
      previous_version: 1
      previous_valid_until: '2025-02-01T12:00:00Z'
      rotated: true
diff:
  description: With C(--diff), the stored versions and their dates before and after. Never values.
  returned: diff mode
  type: dict
  sample:
    before: "redis_app: version 1 created 2024-11-01T12:00:00Z\n"
    after: "redis_app: version 2 created 2025-01-31T12:00:00Z\nredis_app: version 1 created 2024-11-01T12:00:00Z\n"
'''
