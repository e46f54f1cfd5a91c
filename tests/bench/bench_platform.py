# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark the test platform: the cached image step and systemd container boots.

Prints the figures and writes docs/benchmarks/platform.md with the command that made them, and a
verdict against the stated targets (exit 1 when one is missed).
Run as root with the engine up and the image built:  .venv/bin/python tests/bench/bench_platform.py
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verdict import Target, exit_code, verdict  # noqa: E402  (tests/bench/verdict.py)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
IMAGE = os.environ.get('PLATFORM_IMAGE', 'flash-connect/platform:bookworm')
SYSTEMD_OPTS = ['--cap-add', 'SYS_ADMIN', '--cgroupns=host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
                '--tmpfs', '/run', '--tmpfs', '/run/lock', '-e', 'container=docker']


def timed(argv, **kwargs):
    start = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.monotonic() - start


def boot_once(name):
    """Seconds from `docker run` to `systemctl is-system-running` answering running."""
    subprocess.run(['docker', 'rm', '-f', name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    start = time.monotonic()
    subprocess.run(['docker', 'run', '-d', '--name', name, '--label', 'io.flash.lab=bench'] + SYSTEMD_OPTS
                   + [IMAGE, '/lib/systemd/systemd'], check=True, stdout=subprocess.DEVNULL)
    try:
        while True:
            state = subprocess.run(['docker', 'exec', name, 'systemctl', 'is-system-running'],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   universal_newlines=True, check=False).stdout.strip()
            if state in ('running', 'degraded'):
                return time.monotonic() - start, state
            if time.monotonic() - start > 120:
                raise RuntimeError('%s did not boot within 120 s (state %r)' % (name, state))
            time.sleep(0.1)
    finally:
        subprocess.run(['docker', 'rm', '-f', name], stdout=subprocess.DEVNULL, check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--out', default=os.path.join(ROOT, 'docs', 'benchmarks', 'platform.md'))
    # Targets: a cached image step must cost nothing next to a Molecule run, and a host must boot
    # well inside Molecule's create step (every scenario boots 3 to 9 of them).
    parser.add_argument('--target-image-step', type=float, default=2.0, help='median seconds, cached image step')
    parser.add_argument('--target-boot', type=float, default=10.0, help='median seconds, docker run to is-system-running')
    args = parser.parse_args()

    image_step = [timed(['bash', os.path.join(ROOT, 'scripts', 'build-image.sh')]) for dummy in range(args.runs)]
    boots = [boot_once('flash-bench-boot') for dummy in range(args.runs)]
    boot_secs = [b[0] for b in boots]
    load = os.getloadavg()

    rows = [
        ('image step, cached (scripts/build-image.sh)', image_step),
        ('systemd container: docker run to is-system-running', boot_secs),
    ]
    lines = ['# Test platform benchmark', '',
             'Made by `.venv/bin/python tests/bench/bench_platform.py %s` on %s, %s, %d cores, load %.1f/%.1f/%.1f.'
             % (' '.join(sys.argv[1:]) or '--runs %d' % args.runs, datetime.date.today().isoformat(), platform.platform(terse=True), os.cpu_count(), *load),
             '', '| measure | median (s) | min (s) | max (s) | runs |', '| --- | --- | --- | --- | --- |']
    for label, values in rows:
        lines.append('| %s | %.2f | %.2f | %.2f | %d |' % (label, statistics.median(values), min(values), max(values), len(values)))
    result = verdict([
        Target('median cached image step', round(statistics.median(image_step), 2), '<=', args.target_image_step, 's'),
        Target('median systemd container boot', round(statistics.median(boot_secs), 2), '<=', args.target_boot, 's'),
    ])
    lines += [''] + result['lines']
    lines += ['', 'Boot states seen: %s.' % ', '.join(sorted({b[1] for b in boots})),
              'Figures are medians of runs made in the same invocation; the machine is shared and noisy,',
              'so compare ratios within one report rather than figures across reports.', '']
    report = '\n'.join(lines)
    print(report)
    with open(args.out, 'w') as handle:
        handle.write(report)
    return exit_code(result)


if __name__ == '__main__':
    sys.exit(main())
