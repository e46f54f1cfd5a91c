# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 13: the audit trail of a `make lab` run names every task that changed, on every host, and
holds no secret of the lab.

Usage: audit_check.py PLAYBOOK_LOG AUDIT_FILE OFFSET
The changed (task, host) pairs are read from the playbook's own output (the default callback's
"changed: [host]" lines under each TASK / RUNNING HANDLER header) and must equal the
``task_changed`` records the callback appended to AUDIT_FILE after byte OFFSET, all of one run
whose ``run_end`` says ok; each changed host's journal must hold that run's summaries
(playbooks/audit_summary.yml) naming the same tasks. Every secret the lab generated (.lab/secrets/*, and every value of the
rotation store) is then looked for in those records.
"""

import json
import os
import re
import subprocess
import sys

import yaml

SUMMARY_TASK = "Write the summary into the host's journal"   # playbooks/audit_summary.yml
HEADER = re.compile(r'^(?:TASK|RUNNING HANDLER) \[(?P<task>.*)\] \*+$')
CHANGED = re.compile(r'^changed: \[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\]')


def changed_in_log(text):
    pairs, task = set(), None
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            task = header.group('task')
            continue
        changed = CHANGED.match(line)
        if changed and task is not None:
            pairs.add((task, changed.group('host')))
    return pairs


def leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, str):
        yield value


def lab_secrets(state):
    found = set()
    secrets = os.path.join(state, 'secrets')
    for name in os.listdir(secrets):
        path = os.path.join(secrets, name)
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            text = handle.read()
        if name.endswith('.yml') or name.endswith('.yml.pre-rotation'):
            found.update(v for v in leaves(yaml.safe_load(text)) if len(v) >= 12 and not v.startswith('20'))
        elif text.strip():
            found.add(text.strip())
    return found


def main(log_path, audit_path, offset):
    state = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), '.lab')
    with open(log_path) as handle:
        expected = changed_in_log(handle.read())
    with open(audit_path) as handle:
        handle.seek(offset)
        raw = handle.read()
    records = [json.loads(line) for line in raw.splitlines() if line.strip()]
    # The run of playbooks/lab.yml (other runs may append to the same file meanwhile).
    runs = [r['run_id'] for r in records if r['event'] == 'run_start' and r['playbook'].endswith('playbooks/lab.yml')]
    problems = []
    if len(runs) != 1:
        problems.append('expected one run of playbooks/lab.yml after the offset, found %d' % len(runs))
    records = [r for r in records if runs and r['run_id'] == runs[0]]
    ends = [r for r in records if r['event'] == 'run_end']
    if not ends or ends[-1].get('result') != 'ok':
        problems.append('no run_end record with result ok')
    recorded = set((r['task'], r['host']) for r in records if r['event'] == 'task_changed')
    missing, extra = sorted(expected - recorded), sorted(recorded - expected)
    if missing:
        problems.append('%d changed tasks have no record, e.g. %s' % (len(missing), missing[:5]))
    if extra:
        problems.append('%d records name a change the run did not print, e.g. %s' % (len(extra), extra[:5]))
    # Each changed host's journal holds the run's summaries (playbooks/audit_summary.yml), which
    # together name every task that changed the host - and only those.
    run_id = runs[0] if runs else None
    journals = 0
    for host in sorted(set(h for dummy, h in expected) - {'localhost'}):
        out = subprocess.run(['docker', 'exec', host, 'journalctl', '-t', 'flash-audit', '-o', 'cat', '--no-pager'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60,
                             check=False).stdout
        summaries = []
        for line in out.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get('event') == 'run_summary' and record.get('run_id') == run_id:
                summaries.append(record)
        named = set(t for record in summaries for t in record.get('changed_tasks', []))
        wanted = set(t for t, h in expected if h == host and t.split(' : ')[-1] != SUMMARY_TASK and t != SUMMARY_TASK)
        journals += bool(summaries)
        if named != wanted:
            problems.append('%s: the journal summaries of the run name %d tasks, the run changed %d there (missing %s, extra %s)'
                            % (host, len(named), len(wanted), sorted(wanted - named)[:3], sorted(named - wanted)[:3]))
    secrets = lab_secrets(state)
    text = '\n'.join(json.dumps(r) for r in records)
    leaked = sorted(s for s in secrets if s in text or json.dumps(s)[1:-1] in text)
    if leaked:
        problems.append('%d lab secrets appear in the audit records' % len(leaked))
    print(json.dumps({'audit_records': len(records), 'changed_pairs': len(expected), 'recorded_pairs': len(recorded),
                      'host_journals_with_summary': journals,
                      'secrets_searched': len(secrets), 'hosts_changed': len(set(h for dummy, h in expected))}))
    for problem in problems:
        print('audit trail: ' + problem)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
