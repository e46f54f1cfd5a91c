#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: nginx_reload
short_description: Reload nginx and prove its new workers run the configuration on disk
version_added: 0.4.0
description:
  - C(systemctl reload nginx) (and C(nginx -s reload)) only send C(SIGHUP) to the master and return 0 at once.
    When the master cannot apply the new configuration (a C(listen) whose port another process holds, a
    file it cannot open at run time), it logs C([emerg]) to its error log and keeps serving the B(old)
    configuration with its old workers; C(nginx -t) does not catch the first case, because in test
    mode nginx ignores C(EADDRINUSE) (C(ngx_open_listening_sockets) in C(src/core/ngx_connection.c)).
  - This module sends the reload, then reads the processes from C(/proc) until every live worker of
    the master (a child whose title is C(nginx - worker process) with a colon after nginx, not one
    C(... is shutting down)) is one that did not exist before the reload. If that does not happen within I(timeout) seconds, it fails with the
    C([emerg])/C([alert])/C([crit]) lines the error log gained since the reload.
  - After a proven reload it records the SHA-256 of C(nginx -T)'s output (the whole configuration,
    every included file) in I(applied_file). With I(state=current) it reloads only when that record
    differs from the configuration on disk, so a run after a failed reload tries again, instead of
    reporting C(ok) while nginx still serves the old configuration.
  - A stopped nginx is started with C(systemctl start) instead, and must then run a master with workers.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  state:
    description:
      - C(reloaded) reloads every time (a handler, after a changed file).
      - C(current) reloads only when the configuration on disk differs from the one last proven applied
        (or none was recorded yet).
    type: str
    choices: [reloaded, current]
    default: reloaded
  service:
    description: systemd unit of nginx.
    type: str
    default: nginx
  pid_file:
    description: The master's PID file (C(pid) in C(nginx.conf)).
    type: path
    default: /run/nginx.pid
  error_log:
    description: The main error log (C(error_log) in C(nginx.conf)), read from its size before the reload.
    type: path
    default: /var/log/nginx/error.log
  applied_file:
    description: Where the SHA-256 of the last configuration proven applied is kept.
    type: path
    default: /var/lib/flash-connect/nginx-applied.sha256
  timeout:
    description: Seconds to wait for the new workers.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: Reads the configuration and the record; reports whether it would reload; sends nothing.
  diff_mode:
    support: full
    description: Before and after are the SHA-256 of the configuration last applied and of the one on disk.
  idempotent:
    support: partial
    description: C(state=current) is; C(state=reloaded) reloads on every run by design.
notes:
  - Run C(nginx -t) before this module (the proxy role's handler chain does); a configuration
    that fails C(nginx -t) is refused by the master as well, and this module would report its error.
'''

EXAMPLES = r'''
- name: Reload nginx
  flash.connect.nginx_reload:
  listen: reload nginx

- name: nginx runs the configuration on disk
  flash.connect.nginx_reload:
    state: current
'''

RETURN = r'''
old_workers:
  description: PIDs of the master's live workers before the reload.
  returned: always
  type: list
  elements: int
  sample: [1201, 1202]
new_workers:
  description: PIDs of the master's live workers after it (empty in check mode or when nothing was reloaded).
  returned: always
  type: list
  elements: int
  sample: [1305, 1306]
master:
  description: PID of the master after the run (0 when nginx was not running in check mode).
  returned: always
  type: int
  sample: 1100
config_sha256:
  description: SHA-256 of C(nginx -T)'s output, the configuration on disk.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
'''

import hashlib
import os
import time

from ansible.module_utils.basic import AnsibleModule

PROC = '/proc'


def read_text(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def master_pid(pid_file, proc=PROC):
    """The master's PID from its PID file, when that process is alive and is an nginx master; else 0."""
    text = read_text(pid_file)
    if not text or not text.strip().isdigit():
        return 0
    pid = int(text.strip())
    cmdline = read_text(os.path.join(proc, str(pid), 'cmdline'))
    if not cmdline or not cmdline.replace('\0', ' ').startswith('nginx: master process'):
        return 0
    return pid


def live_workers(master, proc=PROC):
    """PIDs of the master's children named 'nginx: worker process' (not those shutting down)."""
    workers = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return workers
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = read_text(os.path.join(proc, entry, 'stat'))
        cmdline = read_text(os.path.join(proc, entry, 'cmdline'))
        if not stat or cmdline is None:
            continue
        # The second field, (comm), may hold spaces: the parent PID is the 2nd field after the last ')'.
        fields = stat[stat.rfind(')') + 2:].split()
        if len(fields) < 2 or not fields[1].isdigit() or int(fields[1]) != master:
            continue
        title = cmdline.replace('\0', ' ').strip()
        if title == 'nginx: worker process':
            workers.append(int(entry))
    return sorted(workers)


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def log_errors(path, offset):
    """[emerg], [alert] and [crit] lines the error log gained after offset."""
    try:
        with open(path, 'rb') as handle:
            if log_size(path) >= offset:
                handle.seek(offset)
            text = handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return []
    return [line for line in text.splitlines() if any(level in line for level in ('[emerg]', '[alert]', '[crit]'))]


def run_module(proc=None, sleep=None, clock=None):
    # Looked up at call time, so a test can give a /proc of its own and a clock.
    proc, sleep, clock = proc or PROC, sleep or time.sleep, clock or time.time
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['reloaded', 'current'], default='reloaded'),
            service=dict(type='str', default='nginx'),
            pid_file=dict(type='path', default='/run/nginx.pid'),
            error_log=dict(type='path', default='/var/log/nginx/error.log'),
            applied_file=dict(type='path', default='/var/lib/flash-connect/nginx-applied.sha256'),
            timeout=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if module.check_mode and not module.get_bin_path('nginx'):
        # A host the same --check run would install nginx on: nothing to read yet.
        module.exit_json(changed=True, old_workers=[], new_workers=[], master=0, config_sha256='',
                         msg='nginx is not installed yet; it would be started with the new configuration')
    rc, out, err = module.run_command(['nginx', '-T', '-q'])
    if rc != 0:
        module.fail_json(msg='nginx -T failed (rc %d), nothing was reloaded: %s' % (rc, (err or out).strip()))
    digest = hashlib.sha256(out.encode('utf-8')).hexdigest()
    applied = (read_text(params['applied_file']) or '').strip()
    master = master_pid(params['pid_file'], proc)
    before = live_workers(master, proc) if master else []
    result = dict(changed=False, old_workers=before, new_workers=[], master=master, config_sha256=digest,
                  diff=dict(before='applied: %s\n' % (applied or '(none recorded)'), after='applied: %s\n' % digest))
    if params['state'] == 'current' and applied == digest and master and before:
        module.exit_json(**result)
    result['changed'] = True
    if module.check_mode:
        module.exit_json(**result)

    offset = log_size(params['error_log'])
    action = 'reload' if master else 'start'
    rc, out, err = module.run_command(['systemctl', action, params['service']])
    if rc != 0:
        module.fail_json(msg='systemctl %s %s failed (rc %d): %s; the error log says: %s' % (
            action, params['service'], rc, (err or out).strip(), ' | '.join(log_errors(params['error_log'], offset)) or 'nothing'),
            **result)
    deadline = clock() + params['timeout']
    while True:
        now_master = master_pid(params['pid_file'], proc)
        workers = live_workers(now_master, proc) if now_master else []
        if now_master and workers and not set(workers) & set(before):
            break
        if clock() >= deadline:
            errors = log_errors(params['error_log'], offset)
            result.update(master=now_master, new_workers=workers)
            module.fail_json(
                msg='nginx did not take the new configuration within %d s: %s; it still serves the configuration it ran '
                    'before (workers %s, before the %s: %s). The error log %s says: %s' % (
                        params['timeout'],
                        'no master is running' if not now_master else 'its live workers are the old ones',
                        workers, action, before, params['error_log'], ' | '.join(errors) or 'nothing new'),
                **result)
        sleep(0.5)
    result.update(master=now_master, new_workers=workers)
    directory = os.path.dirname(params['applied_file'])
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    tmp = params['applied_file'] + '.tmp'
    with open(tmp, 'w') as handle:
        handle.write(digest + '\n')
    os.rename(tmp, params['applied_file'])
    module.exit_json(**result)


def main():
    run_module()


if __name__ == '__main__':
    main()
