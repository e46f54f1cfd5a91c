# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: audit_changes
short_description: What the running playbook has changed on a host so far, from the audit trail
version_added: 0.4.0
description:
  - Reads the records the C(flash.connect.audit_trail) callback has written for B(this) run (the run id
    and the file come from the callback, through the environment variables C(FLASH_AUDIT_RUN_ID) and
    C(FLASH_AUDIT_TRAIL_FILE) it sets at the start of the playbook) and returns, per host named, one
    summary - the run id, the playbook, the controller user, and the names of the tasks that changed
    that host, in order, without repeats, B(since the last summary) written to it in this run (a change
    of the task named C(SUMMARY_TASK), C(Write the summary into the host's journal)), so a run that
    writes a summary after each part (the firewall, then the deploy at the end of C(site.yml))
    lists each change once.
  - Used by C(playbooks/audit_summary.yml) to write a summary into each changed host's journal.
  - Without the callback, or with its file disabled, there is nothing to read - every host gets an
    empty C(changed_tasks) - never an error. Values are never in the records, so never in the result.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  _terms:
    description: Inventory host names.
    type: list
    elements: str
    required: true
  file:
    description: The audit trail file; by default the running callback's (C(FLASH_AUDIT_TRAIL_FILE)).
    type: path
  run_id:
    description: The run; by default the running playbook's (C(FLASH_AUDIT_RUN_ID)).
    type: str
  since_last_summary:
    description:
      - List only the changes after the last summary written to the host in the run (what the next
        summary must name); C(false) lists every change of the run, the summaries' own tasks left out.
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Write what this run changed here into the host's journal
  community.general.syslogger:
    ident: flash-audit
    msg: "{{ __summary | to_json }}"
  vars:
    __summary: "{{ query('flash.connect.audit_changes', inventory_hostname) | first }}"
  when: __summary.changed_tasks | length > 0 and not ansible_check_mode
'''

RETURN = r'''
_list:
  description: One summary per host named.
  type: list
  elements: dict
  contains:
    host:
      description: The host.
      type: str
    run_id:
      description: The run (the audit records' C(run_id)); empty without the callback.
      type: str
    playbook:
      description: The playbook of the run, from its C(run_start) record.
      type: str
    user:
      description: Who ran it on the controller, from its C(run_start) record.
      type: str
    changed_tasks:
      description: Names of the tasks that changed the host since the last summary of the run, in order.
      type: list
      elements: str
'''

import json
import os

from ansible.errors import AnsibleLookupError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.lookup import LookupBase

# The task of playbooks/audit_summary.yml: a summary written to a host starts its list afresh.
SUMMARY_TASK = "Write the summary into the host's journal"


def read_changes(path, run_id, hosts, since_last_summary=True):
    """Summaries of ``run_id`` in the JSON Lines file ``path`` for each of ``hosts``."""
    summaries = dict((h, {'host': h, 'run_id': run_id or '', 'playbook': '', 'user': '', 'changed_tasks': []})
                     for h in hosts)
    if not path or not run_id or not os.path.exists(path):
        return [summaries[h] for h in hosts]
    start = {}
    with open(path, encoding='utf-8') as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get('run_id') != run_id:
                continue
            if record.get('event') == 'run_start':
                start = record
            elif record.get('event') == 'task_changed' and record.get('host') in summaries:
                tasks = summaries[record['host']]['changed_tasks']
                if record.get('task') == SUMMARY_TASK:
                    if since_last_summary:
                        del tasks[:]
                elif record.get('task') not in tasks:
                    tasks.append(record.get('task'))
    for summary in summaries.values():
        summary['playbook'] = start.get('playbook', '')
        summary['user'] = start.get('user', '')
    return [summaries[h] for h in hosts]


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        unknown = sorted(set(kwargs) - set(['file', 'run_id', 'since_last_summary']))
        if unknown:
            raise AnsibleLookupError('audit_changes: unknown option(s) %s (known: file, run_id, since_last_summary)'
                                     % ', '.join(unknown))
        return read_changes(kwargs.get('file') or os.environ.get('FLASH_AUDIT_TRAIL_FILE'),
                            kwargs.get('run_id') or os.environ.get('FLASH_AUDIT_RUN_ID'), [str(t) for t in terms],
                            since_last_summary=boolean(kwargs.get('since_last_summary', True), strict=True))
