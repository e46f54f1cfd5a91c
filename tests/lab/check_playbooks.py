# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 15.2: every playbook an operator runs on the lab previews under `--check --diff`.

On the converged lab (the inventory's pinned release live), each playbook below runs with
`--check --diff`. A converging playbook must fail nothing and predict no change on any lab host.
`rollback.yml` must fail nothing and predict what its plan says: a switch to the other colour
when the previous release differs from the live one, no change when it is the same release (the
lab check's deploys end with both on the pinned release: the plan is then "in-place" and nothing
moves); either way it makes no change: the colour serving through the proxy is the same after.

Playbooks that do not apply to the lab's inventory are named in SKIPPED with the reason.
Run by scripts/lab-check.sh from the checkout, with the lab's executor in the environment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recap import recap  # noqa: E402  (tests/lab/recap.py: the one PLAY RECAP reader)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'acceptance'))
import helpers  # noqa: E402  (tests/lab/acceptance/helpers.py: the colour that serves)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
LOGS = os.path.join(ROOT, '.build', 'lab-check')
# site.yml's one --check --diff of the lab check (issue 15's acceptance): on the lab the deploys,
# the rotation and the failovers moved (a new Redis master, a previous release on record).
NO_CHANGE = ['site.yml', 'deploy.yml', 'rotate_secrets.yml']
# Each service's playbook is imported whole by site.yml, so site.yml's check runs every one of
# their plays; a second --check of each alone cost 2.7 min of the lab stage and ran the same plays.
# tests/lab/tags_alone.py runs each of them alone, tag by tag.
COVERED = {name: "imported whole by site.yml, whose --check runs it" for name in
           ('common.yml', 'firewall.yml', 'redis.yml', 'rabbitmq.yml', 'proxy.yml', 'app.yml', 'monitoring.yml',
            'backup_schedule.yml')}
SKIPPED = {
    'audit.yml': 'the lab does not run the audit role (molecule/audit checks its --check --diff)',
    'backup.yml': 'backs up now, a change by design (its converge part is backup_schedule.yml; molecule/backup checks its --check --diff)',
    'restore.yml': 'restores, a change by design (molecule/backup checks its --check --diff; dr_drill.yml restores in the lab check)',
    'dr_drill.yml': 'destroys the Redis hosts by design; under --check it refuses before any change, saying so (the lab check runs it once for real)',
    'rabbitmq_cookie_change.yml': 'needs a new cookie; it refuses without one (molecule/rabbitmq)',
    'lab.yml': 'creates the lab hosts; its converge part is site.yml',
    'lab_destroy.yml': 'destroys the lab',
}
# deploy.yml's "Show the plan": "<image>:<tag> -> <colour> (<mode>[, configuration changed]; live: ...)".
PLAN = re.compile(r"-> (?P<target>\w+) \((?P<mode>[a-z-]+)(?P<config>, configuration changed)?; live: ")


def plan(text):
    """(mode, configuration changed) from the plan deploy.yml shows, or None when it showed none."""
    match = PLAN.search(text)
    return (match.group('mode'), bool(match.group('config'))) if match else None


def check(playbook):
    cmd = ['ansible-playbook', '-i', 'inventories/lab', 'playbooks/' + playbook, '--check', '--diff']
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    log = os.path.join(LOGS, 'check-%s.log' % playbook.replace('.yml', ''))
    with open(log, 'w') as handle:
        handle.write(proc.stdout)
    hosts = recap(proc.stdout)
    bad = sorted(h for h, f in hosts.items() if f['failed'] or f['unreachable'])
    if proc.returncode != 0 or bad or not hosts:
        sys.exit('%s --check --diff: exit %d, failed or unreachable: %s (log: %s)' % (playbook, proc.returncode, bad or 'none', log))
    return hosts, time.monotonic() - start, log


def main():
    ep = json.load(open(os.path.join(ROOT, '.lab', 'endpoints.json')))
    listed = set(NO_CHANGE) | set(SKIPPED) | set(COVERED) | {'rollback.yml'}
    present = {f for f in os.listdir(os.path.join(ROOT, 'playbooks')) if f.endswith('.yml')}
    # A playbook that is only imported (secrets, validate_inventory, audit_summary, lab_endpoints,
    # app_scrape_targets) runs inside site.yml, lab.yml or deploy.yml; every other new playbook must
    # be listed here with its verdict.
    imported_only = {'secrets.yml', 'validate_inventory.yml', 'audit_summary.yml', 'lab_endpoints.yml', 'app_scrape_targets.yml'}
    unlisted = sorted(present - listed - imported_only)
    if unlisted:
        sys.exit('check_playbooks: playbooks with no --check --diff verdict: %s (add them to NO_CHANGE or SKIPPED)' % unlisted)
    seconds = {}
    for playbook in NO_CHANGE:
        hosts, secs, log = check(playbook)
        changed = sorted('%s changed=%d' % (h, f['changed']) for h, f in hosts.items() if f['changed'] and h != 'localhost')
        if changed:
            sys.exit('%s --check --diff on the converged lab predicts a change: %s (log: %s)' % (playbook, changed, log))
        seconds[playbook] = round(secs, 1)
    before = helpers.serving_colour(ep)
    hosts, secs, log = check('rollback.yml')
    seconds['rollback.yml'] = round(secs, 1)
    with open(log) as handle:
        shown = plan(handle.read())
    predicted = any(f['changed'] for h, f in hosts.items() if h != 'localhost')
    if shown is None:
        sys.exit('rollback.yml --check --diff showed no plan (log: %s)' % log)
    if shown == ('in-place', False) and predicted:
        sys.exit('rollback.yml --check --diff: the plan is in-place with the same configuration, yet it predicts a change (log: %s)' % log)
    if shown[0] == 'switch' and not predicted:
        sys.exit('rollback.yml --check --diff: the plan is a switch, yet it predicts no change (log: %s)' % log)
    # Prometheus's app job follows a switch (playbooks/app_scrape_targets.yml): the preview shows it.
    monitoring = ep['groups'].get('monitoring', [])
    if shown[0] == 'switch' and monitoring and not all(hosts.get(h, {}).get('changed') for h in monitoring):
        sys.exit('rollback.yml --check --diff: the plan is a switch, yet the app job\'s targets on %s would not follow it (log: %s)'
                 % (monitoring, log))
    after = helpers.serving_colour(ep)
    if not before or after != before:
        sys.exit('rollback.yml --check changed what serves: colour %s before, %s after' % (before, after))
    print(json.dumps({'step': 'check-playbooks', 'ok': True, 'seconds': seconds, 'serving_colour': before,
                      'rollback_plan': shown[0], 'rollback_predicted_change': predicted,
                      'skipped': sorted(SKIPPED), 'covered_by_site': sorted(COVERED)}), flush=True)


if __name__ == '__main__':
    main()
