#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This is a virtual module: it is entirely implemented as an action plugin
# (plugins/action/run_lock.py) and runs on the controller.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: run_lock
short_description: Let one deploy, rollback or secret rotation change the stack at a time
version_added: 0.1.0
description:
  - Takes or gives back a lock file on the Ansible controller that serialises whole playbook runs
    (C(rotate_secrets.yml), C(deploy.yml), C(rollback.yml)), so that two runs started at once (an operator
    and an AWX schedule, a double launch) cannot interleave their plays.
  - The holder is the C(ansible-playbook) process of the run (the parent of the worker that runs this
    action), so every task of one run, including the plays of an imported playbook, is the same holder.
  - I(state=acquired) creates the file atomically (C(O_CREAT|O_EXCL), mode C(0600)) with who holds it, as
    JSON C({pid, host, owner, playbook, user, started}). No secret is ever written to it.
  - If the file exists and is held by this same run, nothing changes (an imported playbook that takes the lock
    again, as C(deploy.yml) inside C(rotate_secrets.yml)). If it is held by a run on this machine that is no
    longer running (it failed or was killed midway), it is taken over with a warning naming that run. If it is
    held by a run on another machine for longer than I(stale_after), it is taken over with a warning.
    Otherwise the task fails naming the holder (owner, pid, host, user, start time) and the lock file.
  - A lock file that cannot be read or is not a run lock makes the task fail naming the path; it is never taken.
  - I(state=released) removes the file only when this run holds it under the same I(owner), so that an
    imported playbook's release leaves the outer playbook's lock in place. Otherwise nothing changes.
  - This module runs on the controller only; it never connects to the target.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  path:
    description:
      - The lock file on the controller. Every run that must not overlap gives the same path
        (the playbooks use C(operations_lock_path), next to the rotation store by default).
      - Its directory is created with mode C(0700) when missing. All runs must see the same file, so runs on
        different controllers (or AWX jobs with private project copies) need it on storage they share.
    type: path
    required: true
  state:
    description:
      - V(acquired) takes the lock (or finds it held by this run); V(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
  owner:
    description:
      - The name of the run that takes the lock, shown to whoever is refused, for example V(rotate_secrets).
      - I(state=released) removes the lock only if it was taken under this name.
    type: str
    required: true
  stale_after:
    description:
      - Seconds after which a lock held by a run on B(another) machine, whose process cannot be checked from
        here, is taken over (with a warning). A run on this machine is checked directly, and its lock is taken over as
        soon as its process is gone, whatever its age.
      - Keep it longer than the longest run (the default is 6 hours).
    type: int
    default: 21600
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  connection:
    support: none
  check_mode:
    support: partial
    details:
      - The lock is taken and given back in check mode too. A C(--check) run reads the live state over several
        plays (the store, the colours, the running releases); while another run changes it, those reads mix
        before and after and the report is wrong, and a real run must not start under a check run that is
        still reading. So a check run is refused while another run holds the lock, and holds it while it runs.
  delegation:
    support: none
    details: It always acts on the controller; C(delegate_to) changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - 'A run that fails midway keeps the lock: its release play does not run. Its C(ansible-playbook) process is
    gone afterwards, so the next run on the same machine takes the lock over with a warning naming it: that is
    the intended recovery, and the warning is the cue to check what the failed run left half-done.'
  - A lock left by a run on another machine cannot be checked; remove the file by hand once you know that run
    is over, or it is taken over after I(stale_after).
  - Use it in a play on C(localhost) (or with C(run_once)); the lock is per run, not per host.
seealso:
  - module: flash.connect.secret_rotate
'''

EXAMPLES = r'''
- name: Take the operations lock before any change
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Take the lock (fails naming the run that holds it)
      flash.connect.run_lock:
        path: "{{ operations_lock_path }}"
        owner: rotate_secrets

# ... the plays that change the stack ...

- name: Give the operations lock back
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Release the lock
      flash.connect.run_lock:
        path: "{{ operations_lock_path }}"
        owner: rotate_secrets
        state: released
'''

RETURN = r'''
path:
  description: The lock file, as an absolute path.
  returned: always
  type: str
  sample: /srv/flash/inventories/production/rotation.vault.yml.lock
msg:
  description: What happened (acquired, already held by this run, took over, released, left in place and why).
  returned: always
  type: str
  sample: acquired
holder:
  description: Who holds the lock after the task (V(null) when nobody does).
  returned: success
  type: dict
  sample:
    pid: 41213
    host: ops-1
    owner: rotate_secrets
    playbook: /srv/flash/playbooks/rotate_secrets.yml
    user: alice
    started: '2026-11-30T21:00:00Z'
taken_over:
  description: The holder whose lock was taken over (a run that is gone, or one on another machine past I(stale_after)).
  returned: when I(state=acquired) succeeded
  type: dict
  sample:
    pid: 40001
    host: ops-1
    owner: deploy
    playbook: /srv/flash/playbooks/deploy.yml
    user: bob
    started: '2026-11-30T20:10:00Z'
'''
