# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failed requests during a release: our blue/green deploy against a naive in-place recreate.

Usage (from the repository root, with the lab up: `make lab`):

    .venv/bin/python tests/bench/deploy_bench.py --runs 3

Each round, one after the other so that they share the machine's load, with the same client
sending requests through the lab proxy (https://localhost:8443, this machine's loopback) at a
steady rate:
  (a) `playbooks/deploy.yml` moves the release to the other tag (1.0.0 <-> 1.1.0): start the
      idle colour, gate it, switch the proxy, gate through it, stop the old colour;
  (b) `tests/bench/naive_recreate.yml` recreates the live colour's containers in place with the
      other tag (what a plain docker_container task with a new image does), no switch;
  (c) same tag, new image (issue 14): the live tag is rebuilt (a new image id under the same
      tag, acceptance.rebuild_tag) and `playbooks/deploy.yml` deploys that tag: blue/green;
  (d) the same rebuild, then the old in-place path (the plan said "in-place" before it
      compared image ids): `tests/bench/naive_recreate.yml` with the live tag.
At the end, the tags are put back on their first images and the live tag is deployed once more
(not measured), so `make lab` finds the lab as it left it.
Reports per round and the medians: failed requests, requests sent, rollout seconds. Writes
docs/benchmarks/deploy.md.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab'))
import acceptance  # noqa: E402  pylint: disable=wrong-import-position

ROOT = acceptance.ROOT
TAGS = ('1.0.0', '1.1.0')


def live_tag():
    tags = set(v.split('=', 1)[1] for v in acceptance.running_versions())
    if len(tags) != 1:
        raise SystemExit('the lab runs %s; expected one release (make lab first)' % sorted(tags))
    return tags.pop()


def measured(cmd, rate):
    client = acceptance.Client(['/health', '/api/balance?user=', '/api/commands'], rate=rate)
    client.start()
    time.sleep(2)
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    seconds = time.monotonic() - started
    time.sleep(2)
    client.stop()
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:])
        raise SystemExit('%s failed' % ' '.join(cmd))
    return {'failed': len(client.failed()), 'requests': len(client.samples), 'seconds': round(seconds, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--rate', type=float, default=10.0, help='requests per second')
    args = parser.parse_args()
    os.makedirs(acceptance.LOGS, exist_ok=True)
    rounds = []
    first_ids = {tag: acceptance.image_id(tag) for tag in TAGS}
    load_start = os.getloadavg()[0]
    for n in range(args.runs):
        current = live_tag()
        other = TAGS[1] if current == TAGS[0] else TAGS[0]
        bluegreen = measured(['ansible-playbook', '-i', 'inventories/lab', 'playbooks/deploy.yml',
                              '-e', 'app_image_tag=' + other], args.rate)
        naive = measured(['ansible-playbook', '-i', 'inventories/lab', 'tests/bench/naive_recreate.yml',
                          '-e', 'app_image_tag=' + current], args.rate)
        same = live_tag()
        acceptance.rebuild_tag(same)
        same_bluegreen = measured(['ansible-playbook', '-i', 'inventories/lab', 'playbooks/deploy.yml',
                                   '-e', 'app_image_tag=' + same], args.rate)
        acceptance.rebuild_tag(same)
        same_naive = measured(['ansible-playbook', '-i', 'inventories/lab', 'tests/bench/naive_recreate.yml',
                               '-e', 'app_image_tag=' + same], args.rate)
        rounds.append({'round': n + 1, 'bluegreen': bluegreen, 'naive': naive,
                       'same_bluegreen': same_bluegreen, 'same_naive': same_naive})
        print(json.dumps(rounds[-1]))

    def med(kind, key):
        return statistics.median(r[kind][key] for r in rounds)

    for tag, first in first_ids.items():
        subprocess.run(['docker', 'tag', first, '%s:%s' % (acceptance.APP_IMAGE, tag)], check=True)
    subprocess.run(['ansible-playbook', '-i', 'inventories/lab', 'playbooks/deploy.yml', '-e', 'app_image_tag=' + live_tag()],
                   cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    subprocess.run(['docker', 'image', 'prune', '-f', '--filter', 'label=' + acceptance.REBUILD_LABEL],
                   stdout=subprocess.DEVNULL, check=False)

    kinds = ('bluegreen', 'naive', 'same_bluegreen', 'same_naive')
    summary = {k: {m: med(k, m) for m in ('failed', 'requests', 'seconds')} for k in kinds}
    print(json.dumps({'median': summary}))
    lines = [
        '# Deploy: blue/green against a naive in-place recreate',
        '',
        'Made by `.venv/bin/python tests/bench/deploy_bench.py --runs %d --rate %g` on %s (%s, %d CPUs), %s.'
        % (args.runs, args.rate, platform.node() or 'this machine', platform.platform(), os.cpu_count() or 0,
           datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')),
        '',
        'Load average (1 min) at the start and the end of the run: %.1f and %.1f.' % (load_start, os.getloadavg()[0]),
        '',
        'The lab (`make lab`: 2 app hosts, 1 replica per colour each, behind the lab proxy). One client',
        'sends GET /health, GET /api/balance and POST /api/commands in turn through',
        'https://localhost:8443 at %g requests/s for the whole rollout (plus 2 s before and after).' % args.rate,
        'A request fails when it does not answer 200 (a 502, a reset, a timeout).',
        '',
        '- (a) blue/green: `playbooks/deploy.yml` (idle colour started and gated, proxy switched and gated',
        '  through, old colour drained and stopped);',
        '- (b) naive: `tests/bench/naive_recreate.yml` recreates the live containers with the new image in',
        '  place (the app role on the live colour), no switch.',
        '',
        'Same tag, new image (issue 14): the live tag rebuilt, so the same tag names a new image id',
        '(`acceptance.rebuild_tag`: `docker build` of `FROM <image>:<tag>` with a nonce label), then',
        '',
        '- (c) blue/green: `playbooks/deploy.yml` with that tag (the plan compares the image id behind',
        '  the tag with the live containers\' and goes through the idle colour);',
        '- (d) the old in-place path: before the plan compared image ids it said "in-place" and the app',
        '  role recreated the live containers (`tests/bench/naive_recreate.yml` with the live tag).',
        '',
        '| round | case | blue/green failed / sent | blue/green rollout s | in place failed / sent | in place rollout s |',
        '|---|---|---|---|---|---|',
    ]
    rows = (('new tag', 'bluegreen', 'naive'), ('same tag, new image', 'same_bluegreen', 'same_naive'))
    for r in rounds:
        for case, bg, naive in rows:
            lines.append('| %d | %s | %d / %d | %.1f | %d / %d | %.1f |' % (
                r['round'], case, r[bg]['failed'], r[bg]['requests'], r[bg]['seconds'],
                r[naive]['failed'], r[naive]['requests'], r[naive]['seconds']))
    for case, bg, naive in rows:
        lines.append('| **median** | **%s** | **%g / %g** | **%.1f** | **%g / %g** | **%.1f** |' % (
            case, summary[bg]['failed'], summary[bg]['requests'], summary[bg]['seconds'],
            summary[naive]['failed'], summary[naive]['requests'], summary[naive]['seconds']))
    lines += [
        '',
        'Rollout time ratio blue/green : in place = %.2f for a new tag and %.2f for the same tag with a' % (
            summary['bluegreen']['seconds'] / max(summary['naive']['seconds'], 0.1),
            summary['same_bluegreen']['seconds'] / max(summary['same_naive']['seconds'], 0.1)),
        'new image (medians of the same run). Blue/green costs the gates and the drain; it buys the',
        'failed requests the in-place recreate shows.',
        '',
    ]
    path = os.path.join(ROOT, 'docs', 'benchmarks', 'deploy.md')
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines))
    print('wrote %s' % path)


if __name__ == '__main__':
    main()
