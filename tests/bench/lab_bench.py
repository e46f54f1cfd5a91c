# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark the lab: build from nothing, then the no-op rerun under both executors.

Issue 15: "No-op rerun of the lab <= 90 s on this 2-core machine (median of 3, with the
build-from-nothing time in the same run)". One invocation:

1. ``make lab-destroy``, then ``make lab`` from nothing (--builds times; the last build stays up);
2. --runs rounds of: ``make lab`` again with the lab's executor (Mitogen's strategy, the
   default of every lab target), then ``FLASH_LAB_EXECUTOR=ansible make lab`` (Ansible's own
   linear strategy, what AWX and a plain ansible-playbook run). Each rerun must report
   ``changed=0`` on every lab host, or the run is not a no-op and the script stops.
   Both reruns record the seconds each role took (``ansible.posix.profile_roles``).

Writes docs/benchmarks/lab.md with the command that made it; exits 1 when a target is missed.
Run as root with the engine up:  .venv/bin/python tests/bench/lab_bench.py --runs 3
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verdict import Target, exit_code, verdict  # noqa: E402  (tests/bench/verdict.py)
from bench_context import context, loadavg, made_by, publish  # noqa: E402  (tests/bench/bench_context.py)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lab'))
from recap import recap  # noqa: E402,F401  (tests/lab/recap.py: the one PLAY RECAP reader)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
# ansible.posix.profile_roles prints "<role> ---...--- 12.34s" under "ROLES RECAP".
ROLE_LINE = re.compile(r'^(?P<role>\S+) -+ (?P<secs>[\d.]+)s$')


def role_seconds(text):
    """{role: seconds} from profile_roles' ROLES RECAP (empty when the callback did not run)."""
    roles, inside = {}, False
    for line in text.splitlines():
        if line.startswith('ROLES RECAP'):
            inside = True
            continue
        if inside:
            match = ROLE_LINE.match(line.strip())
            if match:
                roles[match.group('role')] = float(match.group('secs'))
    return roles


def no_op_problems(hosts):
    """Why a run is not a converged no-op: a lab host that changed, failed or was unreachable.

    The controller (localhost) may rewrite .lab/endpoints.json; it is not a lab host.
    """
    if not hosts:
        return ['no PLAY RECAP in the output']
    return ['%s: %s' % (host, ', '.join('%s=%d' % (k, figures[k]) for k in ('changed', 'failed', 'unreachable') if figures[k]))
            for host, figures in sorted(hosts.items())
            if host != 'localhost' and (figures['changed'] or figures['failed'] or figures['unreachable'])]


def make(target, executor=None, profile=False, log=None):
    env = dict(os.environ)
    if executor:
        env['FLASH_LAB_EXECUTOR'] = executor
    if profile:
        env['ANSIBLE_CALLBACKS_ENABLED'] = 'flash.connect.audit_trail,ansible.posix.profile_roles'
    start = time.monotonic()
    proc = subprocess.run(['make', '--no-print-directory', target], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    secs = time.monotonic() - start
    if log:
        with open(log, 'w') as handle:
            handle.write(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit('make %s (executor %s) failed after %.0f s; log: %s\n%s'
                         % (target, executor or 'default', secs, log, '\n'.join(proc.stdout.splitlines()[-30:])))
    return secs, proc.stdout


def report(ctx, builds, reruns, targets):
    """The markdown of docs/benchmarks/lab.md (pure: figures in, text out)."""
    med = {name: statistics.median(values) for name, values in reruns.items()}
    build = statistics.median(builds)
    lines = ['# Lab: build from nothing and the no-op rerun', '',
             made_by(ctx), '',
             'The lab is 9 systemd containers (3 Redis, 3 RabbitMQ, 1 proxy, 2 app) and the controller. A no-op',
             'rerun is `make lab` on the converged lab: every play and check runs, and no lab host changes',
             '(the script stops if one reports changed, failed or unreachable). `mitogen` is the lab\'s executor',
             '(`scripts/lab-executor.sh`: Mitogen\'s `mitogen_linear` strategy, one Python per host for the',
             'whole run); `ansible` is Ansible\'s own linear strategy (`FLASH_LAB_EXECUTOR=ansible make lab`),',
             'a new `docker exec` and Python per task, which is how AWX and the Molecule scenarios run.', '',
             '| run | executor | seconds |', '| --- | --- | --- |']
    for n, secs in enumerate(builds, 1):
        lines.append('| build from nothing %d | mitogen | %.1f |' % (n, secs))
    for name in sorted(reruns):
        for n, secs in enumerate(reruns[name], 1):
            lines.append('| no-op rerun %d | %s | %.1f |' % (n, name, secs))
    lines += ['', '| figure | value |', '| --- | --- |',
              '| median build from nothing (s) | %.1f |' % build]
    for name in sorted(med):
        lines.append('| median no-op rerun, %s (s) | %.1f |' % (name, med[name]))
        lines.append('| no-op rerun / build, %s | %.0f %% |' % (name, 100.0 * med[name] / build))
    if 'mitogen' in med and 'ansible' in med:
        lines.append('| mitogen / ansible, no-op rerun | %.2f |' % (med['mitogen'] / med['ansible']))
    if ctx.get('roles'):
        lines += ['', 'Where a no-op rerun spends its time, per role (median seconds, `ansible.posix.profile_roles`):', '',
                  '| role | %s |' % ' | '.join(sorted(ctx['roles'])), '| --- |%s' % (' --- |' * len(ctx['roles']))]
        names = sorted({role for per in ctx['roles'].values() for role in per},
                       key=lambda r: -max(statistics.median(ctx['roles'][e].get(r, [0.0])) for e in ctx['roles']))
        for role in names:
            cells = ['%.1f' % statistics.median(ctx['roles'][e].get(role, [0.0])) for e in sorted(ctx['roles'])]
            lines.append('| %s | %s |' % (role, ' | '.join(cells)))
    result = verdict(targets)
    lines += [''] + result['lines'] + [
        '', 'Medians of runs made in the same invocation, reruns of the two executors interleaved; the',
        'machine is shared and noisy, so compare the ratios within one report rather than figures across reports.', '']
    return '\n'.join(lines), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3, help='no-op reruns per executor')
    parser.add_argument('--builds', type=int, default=1, help='builds from nothing (make lab-destroy, make lab)')
    parser.add_argument('--target-rerun', type=float, default=90.0, help='median seconds, no-op rerun (lab executor)')
    parser.add_argument('--out', default=os.path.join(ROOT, 'docs', 'benchmarks', 'lab.md'))
    parser.add_argument('--logs', default=os.path.join(ROOT, '.build', 'bench-lab'))
    args = parser.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    load_before = loadavg()

    builds = []
    for n in range(1, args.builds + 1):
        make('lab-destroy', log=os.path.join(args.logs, 'destroy-%d.log' % n))
        secs, dummy = make('lab', log=os.path.join(args.logs, 'build-%d.log' % n))
        builds.append(secs)
        print('build from nothing %d: %.1f s' % (n, secs), flush=True)

    reruns, roles = {'mitogen': [], 'ansible': []}, {'mitogen': {}, 'ansible': {}}
    for n in range(1, args.runs + 1):
        for executor in ('mitogen', 'ansible'):
            log = os.path.join(args.logs, 'rerun-%s-%d.log' % (executor, n))
            secs, out = make('lab', executor=executor, profile=True, log=log)
            problems = no_op_problems(recap(out))
            if problems:
                raise SystemExit('rerun %d (%s) was not a no-op: %s (log: %s)' % (n, executor, '; '.join(problems), log))
            reruns[executor].append(secs)
            for role, role_secs in role_seconds(out).items():
                roles[executor].setdefault(role, []).append(role_secs)
            print('no-op rerun %d, %s: %.1f s' % (n, executor, secs), flush=True)

    ctx = context('lab_bench.py', load_before, roles=roles)
    targets = [Target('median no-op rerun of the lab (lab executor)', round(statistics.median(reruns['mitogen']), 1),
                      '<=', args.target_rerun, 's')]
    text, result = report(ctx, builds, reruns, targets)
    publish(text, args.out)
    return exit_code(result)


if __name__ == '__main__':
    sys.exit(main())
