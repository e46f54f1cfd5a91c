# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 15.3: each role's concern tags run alone on the converged lab.

    python3 tests/lab/tags_alone.py [--only redis.yml:sentinel,proxy.yml:waf]

For every playbook that runs a role (PLAYBOOKS), the concern tags are read from the playbook
itself (`--list-tags`: every task tag but `always` and the role names), so a new concern is
tested the day it is tagged. Then:
  1. the preflight and the discovery run for every tag: in `--list-tasks`, each task tagged
     `preflight` or `discover` is also tagged `always`;
  2. each concern but those two runs alone (`--tags <concern>`; a `--tags preflight` run would
     only repeat the always tasks every concern's run has) with failed=0, unreachable=0 and
     changed=0 on every host: the lab is converged, so a concern that ran without the facts its
     preflight or discovery sets would render something else (a change) or fail.
The app role is run by deploy.yml as one blue/green procedure (include_role: its tasks carry
no play tag); its concern tags select parts of the role where a play imports it (molecule/app).
One JSON line per playbook: the tags and the seconds each took. Exit 1 naming what failed.
Run by scripts/lab-check.sh from the checkout, with the lab's executor in the environment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recap  # noqa: E402  (tests/lab/recap.py: the one PLAY RECAP reader)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
LOGS = os.path.join(ROOT, '.build', 'lab-check')
PLAYBOOKS = ['common.yml', 'firewall.yml', 'redis.yml', 'rabbitmq.yml', 'proxy.yml', 'app.yml', 'monitoring.yml',
             'backup_schedule.yml']
ROLE_TAGS = {'always', 'common', 'firewall', 'redis', 'rabbitmq', 'proxy', 'app_endpoints', 'app', 'audit', 'backup',
             'monitoring'}
FOUNDATION = {'preflight', 'discover'}
TASK_TAGS = re.compile(r'^\s+TASK TAGS: \[(?P<tags>[^\]]*)\]', re.M)
# "      flash.connect.redis : Preflight task name\tTAGS: [always, preflight, redis]"
TASK_LINE = re.compile(r'^\s{6}(?P<task>\S.*?)\s+TAGS: \[(?P<tags>[^\]]*)\]$', re.M)


def ansible_playbook(*args):
    return subprocess.run(['ansible-playbook', '-i', 'inventories/lab'] + list(args), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)


def split_tags(text):
    return {tag.strip() for tag in text.split(',') if tag.strip()}


def concern_tags(list_tags_output):
    """The concern tags of a playbook from its `--list-tags` output."""
    tags = set()
    for match in TASK_TAGS.finditer(list_tags_output):
        tags |= split_tags(match.group('tags'))
    return sorted(tags - ROLE_TAGS)


def foundation_not_always(list_tasks_output):
    """Tasks tagged preflight or discover that a `--tags <concern>` run would leave out."""
    return [match.group('task') for match in TASK_LINE.finditer(list_tasks_output)
            if match.group('task') != 'TASK'  # a play's "TASK TAGS: [...]" line (--list-tags), not a task
            and split_tags(match.group('tags')) & FOUNDATION and 'always' not in split_tags(match.group('tags'))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--only', default='', help='playbook:tag pairs, comma-separated')
    only = {tuple(pair.split(':', 1)) for pair in parser.parse_args().only.split(',') if pair}
    os.makedirs(LOGS, exist_ok=True)
    errors = []
    for playbook in PLAYBOOKS:
        path = os.path.join('playbooks', playbook)
        # One listing for both: each play's TASK TAGS line and every task with its tags.
        listed = ansible_playbook(path, '--list-tags', '--list-tasks')
        if listed.returncode != 0:
            errors.append('%s --list-tags --list-tasks failed: %s' % (playbook, listed.stdout[-400:]))
            continue
        tags = concern_tags(listed.stdout)
        if not tags:
            errors.append('%s: no concern tag found (the parse of --list-tags is wrong)' % playbook)
        errors += ['%s: "%s" is tagged preflight/discover but not always: --tags <concern> skips it' % (playbook, task)
                   for task in foundation_not_always(listed.stdout)]
        seconds = {}
        # preflight and discover are not run alone: their tasks are all tagged always (checked
        # above), so `--tags preflight` would run just the always tasks, which every concern's run
        # below runs too.
        for tag in tags:
            if tag in FOUNDATION or (only and (playbook, tag) not in only):
                continue
            log = os.path.join(LOGS, 'tags-%s-%s.log' % (playbook[:-4], tag))
            started = time.monotonic()
            run = ansible_playbook(path, '--tags', tag)
            seconds[tag] = round(time.monotonic() - started, 1)
            with open(log, 'w') as handle:
                handle.write(run.stdout)
            problems = recap.problems(run.stdout, changed=True)
            if run.returncode != 0 or problems:
                found = '; '.join(problems) or 'no host problem'
                errors.append('%s --tags %s: exit %d, %s (log: %s)' % (playbook, tag, run.returncode, found, log))
        print(json.dumps({'step': 'tags-alone', 'playbook': playbook, 'seconds': seconds}), flush=True)
    for error in errors:
        print('FAILED: ' + error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
