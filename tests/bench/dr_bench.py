# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark the disaster-recovery drill: RPO and RTO, median of --runs drills, in the lab.

Issue 12: "The drill passes in the lab, and docs/benchmarks/dr.md gives RPO and RTO (median of 3)
with the command that made it". One invocation:

1. ``make lab`` (builds the lab, or converges it: the drill starts from a converged lab);
2. --runs times ``make lab-dr`` (playbooks/dr_drill.yml): every Redis host removed with its data,
   made again, converged, the session master restored from the newest frequent snapshot; the
   drill writes its figures to .lab/dr-drill.json and fails outside the plan's RPO (5 min) and
   RTO (30 min). Each drill starts from what the last one left: a converged lab.

Writes docs/benchmarks/dr.md with the command that made it; exits 1 when a target is missed.
Run as root with the engine up:  .venv/bin/python tests/bench/dr_bench.py --runs 3
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verdict import Target, exit_code, verdict  # noqa: E402  (tests/bench/verdict.py)
from bench_context import context, loadavg, made_by, publish  # noqa: E402  (tests/bench/bench_context.py)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
# What each drill's figures hold (dr_drill.yml's dr_drill_result), in the order the table prints them.
COLUMNS = [('rpo_s', 'RPO (s)'), ('rto_s', 'RTO (s)'), ('rebuild_s', 'hosts made again (s)'),
           ('converge_s', 'converge (s)'), ('restore_s', 'restore to answering (s)'),
           ('canaries_found', 'canaries found'), ('canaries_written', 'written before the loss'),
           ('snapshot_host', 'snapshot of')]


def make(target, log):
    start = time.monotonic()
    proc = subprocess.run(['make', '--no-print-directory', target], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    secs = time.monotonic() - start
    with open(log, 'w') as handle:
        handle.write(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit('make %s failed after %.0f s; log: %s\n%s'
                         % (target, secs, log, '\n'.join(proc.stdout.splitlines()[-30:])))
    return secs


def report(ctx, drills, targets):
    """The markdown of docs/benchmarks/dr.md (pure: figures in, text out)."""
    lines = ['# Disaster-recovery drill: RPO and RTO', '',
             made_by(ctx), '',
             'Each drill is `make lab-dr` (`playbooks/dr_drill.yml`) on the converged lab: a canary sends a chat',
             'command through the proxy every 10 s (the app writes the user\'s session into Redis); once the',
             'frequent timer (every minute in the lab, `backup_frequent_interval`) has shipped a copy made after',
             'the second canary write, every Redis container is removed with its data (the loss). The hosts are',
             'made again, converged (common, firewall, redis, backup), Sentinel is stopped, the newest frequent',
             'snapshot is restored onto the session master, Sentinel starts again and the replicas resync.',
             '**RPO** = the loss - the last canary write found in the restored master; **RTO** = the loss -',
             'the first moment `/health/ready` and a chat command both answer 200 through the proxy after the',
             'restore. The RPO depends on where in the timer\'s cycle the loss falls (0 to one interval plus',
             'the copy\'s time); in production the interval is 5 min, so the RPO bound is the interval, not this figure.', '',
             '| drill | %s |' % ' | '.join(title for dummy, title in COLUMNS),
             '| --- |%s' % (' --- |' * len(COLUMNS))]
    for n, drill in enumerate(drills, 1):
        lines.append('| %d | %s |' % (n, ' | '.join(str(drill.get(key, '')) for key, dummy in COLUMNS)))
    lines += ['', '| figure | value |', '| --- | --- |']
    for key, title in COLUMNS[:5]:
        lines.append('| median %s | %.1f |' % (title, statistics.median(float(d[key]) for d in drills)))
    result = verdict(targets)
    lines += [''] + result['lines'] + [
        '', 'Medians of drills made in the same invocation; the machine is shared and noisy (2 cores), so',
        'the split between the phases says more than the totals across reports.', '']
    return '\n'.join(lines), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3, help='drills')
    parser.add_argument('--target-rpo', type=float, default=300.0, help='median seconds (the plan: 5 min)')
    parser.add_argument('--target-rto', type=float, default=1800.0, help='median seconds (the plan: 30 min)')
    parser.add_argument('--out', default=os.path.join(ROOT, 'docs', 'benchmarks', 'dr.md'))
    parser.add_argument('--logs', default=os.path.join(ROOT, '.build', 'bench-dr'))
    args = parser.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    load_before = loadavg()
    make('lab', os.path.join(args.logs, 'lab.log'))
    drills = []
    for n in range(1, args.runs + 1):
        secs = make('lab-dr', os.path.join(args.logs, 'drill-%d.log' % n))
        with open(os.path.join(ROOT, '.lab', 'dr-drill.json')) as handle:
            drill = json.load(handle)
        drills.append(drill)
        print('drill %d (%.0f s in all): RPO %s s, RTO %s s' % (n, secs, drill['rpo_s'], drill['rto_s']), flush=True)
    ctx = context('dr_bench.py', load_before)
    targets = [Target('median RPO', round(statistics.median(float(d['rpo_s']) for d in drills), 1), '<=', args.target_rpo, 's'),
               Target('median RTO', round(statistics.median(float(d['rto_s']) for d in drills), 1), '<=', args.target_rto, 's')]
    text, result = report(ctx, drills, targets)
    publish(text, args.out)
    return exit_code(result)


if __name__ == '__main__':
    sys.exit(main())
