# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark the lab's monitoring: the monitoring host's cost, and the time from a Redis master's loss to the page.

Issue 11: "the monitoring host's CPU and memory with the whole lab scraped every 15 s, and the time
from a Redis master's loss to the page at the sink (median of 3)". One invocation:

1. ``make lab`` (builds or converges the lab: a monitoring host scraping every host every 15 s);
2. for --window seconds, every 5 s: the monitoring container's CPU and memory (its cgroup's own
   counters: ``docker stats`` reads 0 for the lab's systemd containers on this machine),
   then Prometheus's own view (series in the head block, targets, samples scraped per second,
   its process's CPU and resident memory, and Alertmanager's);
3. --runs times: the session master's Redis server is stopped (systemctl stop, as
   tests/lab/monitoring_e2e.py does); the time until the PagerDuty sink holds the page
   (FlashRedisConnectionFailures, critical, that instance) is the figure; the server is started
   again and every Sentinel must see the set whole; a run starts only once no such alert is
   left for its instance (the 5-minute failure window emptied), so each run's page is a new one.

Writes docs/benchmarks/monitoring.md with the command that made it; exits 1 when a target is missed.
Run as root with the engine up:  .venv/bin/python tests/bench/monitoring_bench.py --runs 3
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'lab'))
from verdict import Target, exit_code, verdict  # noqa: E402  (tests/bench/verdict.py)
from bench_context import context, loadavg, made_by, publish  # noqa: E402  (tests/bench/bench_context.py)
from dr_bench import make  # noqa: E402  (tests/bench/dr_bench.py: make <target> with its log)
import monitoring_e2e as e2e  # noqa: E402  (tests/lab/monitoring_e2e.py: the lab's monitoring readers)

ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
PROMETHEUS_QUERIES = [
    ('series in the head block', 'prometheus_tsdb_head_series', 1),
    ('scrape targets', 'count(up)', 1),
    ('samples scraped per second (every target\'s last scrape / 15 s)', 'sum(scrape_samples_scraped) / 15', 1),
    ('Prometheus CPU (% of one core)', 'rate(process_cpu_seconds_total{job="prometheus"}[1m])', 0.01),
    ('Prometheus resident memory (MiB)', 'process_resident_memory_bytes{job="prometheus"}', 1024 * 1024),
    ('Alertmanager resident memory (MiB)', 'process_resident_memory_bytes{job="alertmanager"}', 1024 * 1024),
]


def cgroup_files(container):
    """The container's CPU-time counter and memory files on this machine, cgroup v1 or v2.
    (`docker stats` reads 0 for the lab's systemd containers here, so the kernel's own files.)"""
    cid = subprocess.run(['docker', 'inspect', '-f', '{{.Id}}', container], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout.strip()
    v1 = ('/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage' % cid, '/sys/fs/cgroup/memory/docker/%s/memory.stat' % cid)
    v2 = '/sys/fs/cgroup/system.slice/docker-%s.scope' % cid
    if os.path.exists(v1[0]) and os.path.exists(v1[1]):
        return {'kind': 'v1', 'cpu': v1[0], 'memory': v1[1]}
    if os.path.isdir(v2):
        return {'kind': 'v2', 'cpu': v2 + '/cpu.stat', 'memory': v2 + '/memory.stat'}
    raise SystemExit('no cgroup files for %s (looked for %s and %s)' % (container, v1[0], v2))


def cgroup_sample(files):
    """(CPU seconds used so far, memory MiB without the page cache, page cache MiB)."""
    with open(files['memory']) as handle:
        stat = dict(line.split() for line in handle)
    with open(files['cpu']) as handle:
        text = handle.read()
    if files['kind'] == 'v1':
        cpu = int(text) / 1e9
        anon, cache = int(stat['total_rss']), int(stat['total_cache'])
    else:
        cpu = int(dict(line.split() for line in text.splitlines())['usage_usec']) / 1e6
        anon, cache = int(stat['anon']), int(stat['file'])
    return cpu, anon / 1048576.0, cache / 1048576.0


def prometheus_value(mon, query, scale):
    result = e2e.prom_query(mon, query).get('data', {}).get('result', [])
    return sum(float(r['value'][1]) for r in result) / scale if result else None


def cost(mon, window):
    files = cgroup_files(mon['host'])
    samples = {'monitoring host CPU (% of one core)': [], 'monitoring host memory without page cache (MiB)': [],
               'monitoring host page cache (MiB)': []}
    for title, dummy, dummy2 in PROMETHEUS_QUERIES:
        samples[title] = []
    deadline = time.monotonic() + window
    last_cpu, last_at = cgroup_sample(files)[0], time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(5)
        cpu, anon, cache = cgroup_sample(files)
        now = time.monotonic()
        samples['monitoring host CPU (% of one core)'].append(100.0 * (cpu - last_cpu) / (now - last_at))
        samples['monitoring host memory without page cache (MiB)'].append(anon)
        samples['monitoring host page cache (MiB)'].append(cache)
        last_cpu, last_at = cpu, now
        for title, query, scale in PROMETHEUS_QUERIES:
            value = prometheus_value(mon, query, scale)
            if value is not None:
                samples[title].append(value)
    return samples


def page_run(ep, mon, n):
    master = e2e.helpers.container_of(ep, e2e.helpers.sentinel_master(ep, e2e.helpers.session_master_name(ep)))
    port = e2e.helpers.sentinel_master_addr(ep, e2e.helpers.session_master_name(ep))[1]
    instance = '%s:%d' % (master, port)
    # Each run's page must be a new one: no alert for this instance left from an earlier loss
    # (its 5-minute failure window must have emptied).

    def none_left():
        left = e2e.prom_query(mon, 'ALERTS{alertname="FlashRedisConnectionFailures",instance="%s"}' % instance)
        return not left['data']['result'], left['data']['result']
    e2e.wait_for('no FlashRedisConnectionFailures left for %s' % instance, none_left, e2e.RESOLVE_WITHIN_S, interval=10)
    since = time.time()
    e2e.docker_exec(master, 'systemctl', 'stop', 'redis-server@session')
    lost = time.time()
    try:
        page = e2e.wait_notified(mon, since, mon['sink_receivers']['pagerduty'],
                                 ['FlashRedisConnectionFailures', instance, 'critical'], e2e.FIRE_WITHIN_S, 'the page')
    finally:
        e2e.docker_exec(master, 'systemctl', 'start', 'redis-server@session')
    e2e.wait_for('every Sentinel seeing the set whole', lambda: e2e.helpers.sentinel_views(ep), 180, interval=5)
    seconds = round(page['at'] - lost, 1)
    print('run %d: %s lost, paged after %.1f s' % (n, instance, seconds), flush=True)
    return {'instance': instance, 'page_s': seconds}


def report(ctx, samples, runs, targets):
    lines = ['# Monitoring: the monitoring host\'s cost and the time to page', '',
             made_by(ctx), '',
             'The lab (`make lab`): %s hosts, one monitoring host (`lab-mon-1`: Prometheus 2.42, Alertmanager 0.25, the'
             % ctx['hosts'],
             'blackbox and Redis exporters, and the alert sink) scraping every target every 15 s (the role\'s default',
             '`monitoring_scrape_interval`); rules evaluated every 15 s; Alertmanager\'s `group_wait` 5 s in the lab.', '',
             '## The monitoring host, over %d s (a sample every 5 s)' % ctx['window'], '',
             '| figure | median | min | max |', '| --- | --- | --- | --- |']
    for title, values in samples.items():
        if values:
            lines.append('| %s | %.1f | %.1f | %.1f |' % (title, statistics.median(values), min(values), max(values)))
    lines += ['', '## From a Redis master\'s loss to the page', '',
              'Each run stops the Redis session master\'s server (`systemctl stop redis-server@session`) and',
              'times the PagerDuty sink\'s receipt of `FlashRedisConnectionFailures` (critical: more than 3 failed',
              'blackbox `redis_resp` probes of that instance in 5 minutes). The floor is 4 probes 15 s apart (45 s)',
              '+ up to one evaluation (15 s) + `group_wait` (5 s); a scrape\'s phase adds 0-15 s.', '',
              '| run | instance | loss to page (s) |', '| --- | --- | --- |']
    for n, run in enumerate(runs, 1):
        lines.append('| %d | %s | %.1f |' % (n, run['instance'], run['page_s']))
    result = verdict(targets)
    lines += ['', '| figure | value |', '| --- | --- |',
              '| median loss to page (s) | %.1f |' % statistics.median(r['page_s'] for r in runs), ''] + result['lines'] + [
        '', 'Medians of samples and runs made in the same invocation on a shared 2-core machine running the whole lab.', '']
    return '\n'.join(lines), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3, help='Redis master losses')
    parser.add_argument('--window', type=int, default=120, help='seconds of cost samples')
    parser.add_argument('--target-page', type=float, default=180.0, help='median seconds from loss to page')
    parser.add_argument('--out', default=os.path.join(ROOT, 'docs', 'benchmarks', 'monitoring.md'))
    parser.add_argument('--logs', default=os.path.join(ROOT, '.build', 'bench-monitoring'))
    parser.add_argument('--no-lab', action='store_true', help='use the running lab as it is (no make lab first)')
    args = parser.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    load_before = loadavg()
    if not args.no_lab:
        make('lab', os.path.join(args.logs, 'lab.log'))
    ep = e2e.helpers.endpoints()
    mon = ep['monitoring']
    samples = cost(mon, args.window)
    runs = [page_run(ep, mon, n) for n in range(1, args.runs + 1)]
    ctx = context('monitoring_bench.py', load_before, window=args.window, hosts=len(ep['hosts']))
    targets = [Target('median loss to page', round(statistics.median(r['page_s'] for r in runs), 1), '<=',
                      args.target_page, 's')]
    text, result = report(ctx, samples, runs, targets)
    publish(text, args.out)
    return exit_code(result)


if __name__ == '__main__':
    sys.exit(main())
