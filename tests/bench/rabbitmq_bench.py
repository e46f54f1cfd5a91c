# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publish-throughput and leader-loss benchmark for the rabbitmq role, on the Molecule `rabbitmq` scenario.

Usage (from the repository root, scenario converged with `molecule converge -s rabbitmq`):

    .venv/bin/python tests/bench/rabbitmq_bench.py --runs 3

Each round measures, one after the other so that they share the machine's load:
  1. confirmed publish throughput into the quorum queue `events.load`, publisher on a follower;
  2. the same with the publisher on the queue's leader;
  3. the same into the classic mirrored queue `invoices.classic` (ha-mode exactly 2), as the
     baseline the quorum figures are divided by;
  4. leader loss, once per stop mode: the publisher runs on a follower, the quorum queue leader's
     container is stopped (`docker stop`, orderly, as the scenario's side_effect does) or killed
     (`docker kill`, a crash), then the longest interval between two
     consecutive confirms and the confirmed/missing counts (every queue is drained and each
     confirmed id looked for); the stopped container is started again and the benchmark waits
     until it is back in the cluster with its quorum replica online before the next round.
Clients are the scenario's molecule/rabbitmq/files/amqp_client.py run inside the containers with
`docker exec` against 127.0.0.1 (Debian's python3-pika), so no traffic leaves the scenario.
Writes docs/benchmarks/rabbitmq.md.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verdict import Target, exit_code, verdict  # noqa: E402  (tests/bench/verdict.py)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / 'molecule' / 'rabbitmq'
CLIENT_SRC = SCENARIO / 'files' / 'amqp_client.py'
CLIENT = '/usr/local/bin/amqp_client.py'
REPORT = ROOT / 'docs' / 'benchmarks' / 'rabbitmq.md'
HOSTS = ['rmq-1', 'rmq-2', 'rmq-3']
VHOST = 'flash'
QUORUM_QUEUE = 'events.load'
CLASSIC_QUEUE = 'invoices.classic'
MAX_MESSAGES = 200000  # upper bound on messages per publisher run, besides its time bound


class Bench:
    """Drives the converged scenario through `docker exec`; remembers the app credentials."""

    def __init__(self, user, password):
        self.user = user
        self.password = password

    @staticmethod
    def run(args, timeout=120, check=True):
        return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout)

    def ctl(self, host, *args, timeout=60):
        out = self.run(['docker', 'exec', host, 'rabbitmqctl', '-q'] + list(args) + ['--formatter', 'json'], timeout=timeout)
        return json.loads(out.stdout)

    def client_args(self, host, *args):
        return ['docker', 'exec', host, 'python3', CLIENT, args[0], self.user, self.password] + list(args[1:])

    def client(self, host, *args, timeout=180):
        out = self.run(self.client_args(host, *args), timeout=timeout)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def install_client(self):
        for host in HOSTS:
            self.run(['docker', 'cp', str(CLIENT_SRC), '%s:%s' % (host, CLIENT)])
            self.run(['docker', 'exec', host, 'python3', '-c', 'import pika'])

    def queues(self, host):
        return {q['name']: q for q in self.ctl(host, 'list_queues', '-p', VHOST, 'name', 'type', 'leader', 'members', 'online', 'messages')}

    def wait_ready(self, timeout):
        """Until all 3 nodes run and the quorum queue has a leader and 3 online members; returns the queue."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for host in HOSTS:
                try:
                    status = self.ctl(host, 'cluster_status', timeout=30)
                    queue = self.queues(host)[QUORUM_QUEUE]
                except (subprocess.SubprocessError, ValueError, KeyError) as exc:
                    last = repr(exc)
                    continue
                last = {'running': status.get('running_nodes'), 'queue': queue}
                if len(status.get('running_nodes', [])) == len(HOSTS) and queue['leader'] and len(queue['online']) == len(HOSTS):
                    return queue
                break
            time.sleep(2)
        raise SystemExit('cluster not ready within %ss: %s' % (timeout, last))

    def leader_and_follower(self):
        queue = self.wait_ready(240)
        leader = queue['leader'].split('@', 1)[1]
        follower = [h for h in HOSTS if h != leader][0]
        return leader, follower

    def empty(self, host, queue):
        """Purge what an interrupted earlier run may have left, so drain counts only this run."""
        if self.queues(host)[queue]['messages']:
            self.run(['docker', 'exec', host, 'rabbitmqctl', '-q', 'purge_queue', '-p', VHOST, queue])

    def throughput(self, host, queue, seconds, tag):
        self.empty(host, queue)
        ids = '/tmp/bench-%s.json' % tag
        pub = self.client(host, 'publish', queue, str(seconds), str(MAX_MESSAGES), ids, timeout=seconds + 120)
        drained = self.client(host, 'drain', queue, ids, timeout=300)
        return {
            'host': host, 'queue': queue,
            'confirmed': pub['confirmed'], 'failed': pub['failed'], 'duration_s': pub['duration_s'],
            'msg_per_s': round(pub['confirmed'] / pub['duration_s'], 1),
            'max_confirm_gap_s': pub['max_confirm_gap_s'], 'missing': drained['missing'],
        }

    def failover(self, seconds, tag, stop_mode):
        leader, follower = self.leader_and_follower()
        self.empty(follower, QUORUM_QUEUE)
        ids = '/tmp/bench-%s.json' % tag
        publisher = subprocess.Popen(self.client_args(follower, 'publish', QUORUM_QUEUE, str(seconds), str(MAX_MESSAGES), ids),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        # Let the load settle (at least 500 messages in the queue, at most 30 s) before the fault.
        depth = 0
        while depth <= 500:
            if time.monotonic() - started > 30 or publisher.poll() is not None:
                publisher.kill()
                raise SystemExit('publisher on %s did not get 500 messages into %s (%s)' % (follower, QUORUM_QUEUE, depth))
            time.sleep(0.5)
            depth = self.queues(follower)[QUORUM_QUEUE]['messages']
        fault_at = time.monotonic() - started
        stop_started = time.monotonic()
        self.run(['docker', stop_mode, leader], timeout=120)
        stop_s = time.monotonic() - stop_started
        out, err = publisher.communicate(timeout=seconds + 180)
        if publisher.returncode != 0:
            raise SystemExit('publisher on %s failed: %s' % (follower, err.strip()[-2000:]))
        pub = json.loads(out.strip().splitlines()[-1])
        drained = self.client(follower, 'drain', QUORUM_QUEUE, ids, timeout=300)
        new_leader = self.queues(follower)[QUORUM_QUEUE]['leader']
        self.run(['docker', 'start', leader])
        restart = time.monotonic()
        self.wait_ready(300)
        return {
            'leader_stopped': leader, 'publisher_on': follower, 'new_leader': new_leader.split('@', 1)[-1],
            'fault_after_s': round(fault_at, 1), 'docker_stop_s': round(stop_s, 1),
            'confirmed': pub['confirmed'], 'failed': pub['failed'], 'duration_s': pub['duration_s'],
            'msg_per_s': round(pub['confirmed'] / pub['duration_s'], 1),
            'max_confirm_gap_s': pub['max_confirm_gap_s'],
            'consumed_distinct': drained['consumed_distinct'], 'missing': drained['missing'],
            'rejoin_s': round(time.monotonic() - restart, 1),
        }


def median(rows, key):
    return round(statistics.median(r[key] for r in rows), 3)


def ratio(num, den):
    return round(num / den, 2) if den else None


def machine_facts():
    model = ''
    with open('/proc/cpuinfo', encoding='utf-8') as cpuinfo:
        for line in cpuinfo:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    mem_kib = 0
    with open('/proc/meminfo', encoding='utf-8') as meminfo:
        for line in meminfo:
            if line.startswith('MemTotal:'):
                mem_kib = int(line.split()[1])
    docker = subprocess.run(['docker', 'version', '--format', '{{.Server.Version}}'], check=False, capture_output=True, text=True).stdout.strip()
    return {'cpu': model, 'cores': os.cpu_count(), 'mem_gib': round(mem_kib / 1024 / 1024, 1),
            'kernel': platform.release(), 'docker': docker, 'python': platform.python_version()}


def broker_facts(bench):
    pkgs = bench.run(['docker', 'exec', HOSTS[0], 'dpkg-query', '-W', '-f', '${Package} ${Version}\\n',
                      'rabbitmq-server', 'erlang-base', 'python3-pika']).stdout.split('\n')
    return dict(p.split(' ', 1) for p in pkgs if p)


def write_report(path, ctx, rounds):
    tq_f = [r['quorum_follower'] for r in rounds]
    tq_l = [r['quorum_leader'] for r in rounds]
    tc = [r['classic'] for r in rounds]
    modes = ctx['stop_modes']
    fo_by = {mode: [r['failover_' + mode] for r in rounds] for mode in modes}
    fo = [f for mode in modes for f in fo_by[mode]]
    m = {
        'qf': median(tq_f, 'msg_per_s'), 'ql': median(tq_l, 'msg_per_s'), 'cl': median(tc, 'msg_per_s'),
        'steady_gap': median(tq_f, 'max_confirm_gap_s'),
    }
    lost = sum(r['missing'] for r in fo) + sum(r['missing'] for r in tq_f + tq_l + tc)
    confirmed_fo = sum(r['confirmed'] for r in fo)
    facts, broker = ctx['machine'], ctx['broker']
    lines = [
        '# RabbitMQ benchmark: confirmed publish throughput and leader loss',
        '',
        'Made by `%s` (from the repository root) on %s UTC,' % (ctx['command'], ctx['date']),
        'with the Molecule `rabbitmq` scenario converged (`molecule converge -s rabbitmq`): 3 disc nodes',
        '`rmq-1..3` in systemd containers, RabbitMQ %s on Erlang %s (Debian 12 packages),'
        % (broker.get('rabbitmq-server', '?'), broker.get('erlang-base', '?')),
        'each node started with `%s` (the scenario sets one scheduler per VM).' % ctx['erl_args'],
        '',
        'Machine: %s, %s cores, %s GiB, kernel %s, Docker %s. **Load average %.2f / %.2f / %.2f before,'
        % (facts['cpu'], facts['cores'], facts['mem_gib'], facts['kernel'], facts['docker'],
           ctx['load_before'][0], ctx['load_before'][1], ctx['load_before'][2]),
        '%.2f / %.2f / %.2f after** (1/5/15 min): the %s cores are shared with other jobs, so absolute'
        % (tuple(ctx['load_after']) + (facts['cores'],)),
        'figures move from run to run; the ratios below compare figures taken in the same rounds.',
        '',
        '## How',
        '',
        '- Client: the scenario\'s `molecule/rabbitmq/files/amqp_client.py publish` (python3-pika %s,'
        % broker.get('python3-pika', '?'),
        '  BlockingConnection) run inside a node with `docker exec` against 127.0.0.1, user `%s`, vhost `%s`:'
        % (ctx['user'], VHOST),
        '  publisher confirms on, `mandatory`, persistent (`delivery_mode=2`), one message in flight',
        '  (each publish waits for its confirm, so throughput here is the inverse of the confirm',
        '  round trip, not the broker\'s pipelined maximum). The body is the message\'s decimal id',
        '  (1-6 bytes) as that client writes it, not a 200-byte payload. Bounded: %s s or %d messages'
        % (ctx['seconds'], MAX_MESSAGES),
        '  per throughput run. After each run the queue is drained by `amqp_client.py drain` and every',
        '  confirmed id is looked for ("missing").',
        '- Throughput into the quorum queue `%s` (3 members), publisher on a follower and on the leader,'
        % QUORUM_QUEUE,
        '  and into the classic mirrored queue `%s` (policy `ha-mode: exactly`, 2 copies) as the baseline.'
        % CLASSIC_QUEUE,
        '- Leader loss: publisher on a follower of `%s` for %s s; once more than 500 messages are in the'
        % (QUORUM_QUEUE, ctx['failover_seconds']),
        '  queue the leader\'s container is stopped, in each round once per mode: %s'
        % ', '.join('`docker %s`' % mode for mode in modes),
        '  (`stop` is what the scenario\'s side_effect does: systemd in the container shuts RabbitMQ down in',
        '  order, docker SIGKILLs what is left after its 10 s grace; `kill` is a crash, SIGKILL at once);',
        '  figures: the longest interval between two consecutive confirms, confirmed and missing after',
        '  draining. The container is then started again and the next round waits until the node runs',
        '  in the cluster with the queue\'s replica online ("rejoin").',
        '',
        '## Throughput (confirmed messages/s)',
        '',
        '| Round | Load (1 min) | Quorum, publisher on follower | Quorum, publisher on leader | Classic mirrored | Missing |',
        '|---|---|---|---|---|---|',
    ]
    for i, r in enumerate(rounds, 1):
        lines.append('| %d | %.2f | %s (%d in %ss) | %s (%d) | %s (%d) | %d |' % (
            i, r['load'], r['quorum_follower']['msg_per_s'], r['quorum_follower']['confirmed'], r['quorum_follower']['duration_s'],
            r['quorum_leader']['msg_per_s'], r['quorum_leader']['confirmed'],
            r['classic']['msg_per_s'], r['classic']['confirmed'],
            r['quorum_follower']['missing'] + r['quorum_leader']['missing'] + r['classic']['missing']))
    lines += [
        '',
        'Medians: quorum via a follower **%s msg/s**, via the leader **%s msg/s**, classic mirrored **%s msg/s**.'
        % (m['qf'], m['ql'], m['cl']),
        'Ratios of the medians: quorum (follower) / classic mirrored **%s**; quorum leader / follower **%s**.'
        % (ratio(m['qf'], m['cl']), ratio(m['ql'], m['qf'])),
        'Longest confirm gap in a steady run (quorum, follower), median: %s s.' % m['steady_gap'],
        '',
        '## Leader loss (publisher on a follower, leader container stopped)',
        '',
        '| Round | Mode | Leader stopped | Publisher on | New leader | Fault after (s) | docker command took (s) '
        '| Longest confirm gap (s) | Confirmed | Failed (nack/unroutable) | Consumed distinct | Missing | msg/s over the run | Rejoin (s) |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for i, r in enumerate(rounds, 1):
        for mode in modes:
            f = r['failover_' + mode]
            lines.append('| %d | %s | %s | %s | %s | %s | %s | **%s** | %d | %d | %d | **%d** | %s | %s |' % (
                i, mode, f['leader_stopped'], f['publisher_on'], f['new_leader'], f['fault_after_s'], f['docker_stop_s'],
                f['max_confirm_gap_s'], f['confirmed'], f['failed'], f['consumed_distinct'], f['missing'],
                f['msg_per_s'], f['rejoin_s']))
    lines.append('')
    gaps = {}
    for mode in modes:
        rows = fo_by[mode]
        gaps[mode] = median(rows, 'max_confirm_gap_s')
        lines += [
            'Medians, `docker %s`: longest confirm gap **%s s** (%s x the steady-run gap of the same rounds);'
            % (mode, gaps[mode], ratio(gaps[mode], m['steady_gap'])),
            'the docker command took %s s; throughput over the run %s msg/s (%s x the steady follower figure);'
            % (median(rows, 'docker_stop_s'), median(rows, 'msg_per_s'), ratio(median(rows, 'msg_per_s'), m['qf'])),
            'rejoin after start %s s; confirmed messages missing **%d** of %d.'
            % (median(rows, 'rejoin_s'), sum(r['missing'] for r in rows), sum(r['confirmed'] for r in rows)),
            '',
        ]
    if len(modes) == 2:
        lines += ['Gap ratio kill / stop: **%s**.' % ratio(gaps['kill'], gaps['stop']), '']
    result = verdict([Target('median longest confirm gap, `docker %s` of the leader' % mode, gaps[mode], '<', 5, 's')
                      for mode in modes] + [Target('confirmed messages missing over all runs', lost, '==', 0)])
    stop_s = median(fo_by['stop'], 'docker_stop_s') if 'stop' in fo_by else None
    lines += [
        'Confirmed messages missing over all runs: **%d** (of %d confirmed in leader-loss runs'
        ' and %d in throughput runs).' % (lost, confirmed_fo, sum(r['confirmed'] for r in tq_f + tq_l + tc)),
        '',
        'Issue targets (acceptance test in the scenario\'s side_effect): every mode\'s median confirm gap under 5 s,'
        ' no confirmed message missing.',
        '',
    ] + result['lines'] + [
        '',
        '## Reading these figures',
        '',
        '- The confirm gap covers the leader node going, the other nodes noticing it, the Raft election',
        '  and the new leader accepting the commands the publisher node holds; it is measured by the',
        '  publisher itself (monotonic clock inside the container).',
    ]
    if stop_s is not None:
        lines += [
            '- `docker stop` asks systemd in the container to shut down (SIGRTMIN+3): RabbitMQ stops in order',
            '  and hands over; the command took %s s (median)%s;' % (
                stop_s, ', at or past docker\'s 10 s grace limit, so docker SIGKILLed what was left of the container'
                if stop_s >= 10 else ', within docker\'s 10 s grace limit'),
            '  the median confirm gap of %s s %s.' % (
                gaps['stop'], 'shows the queue had a new leader well before' if gaps['stop'] is not None
                and gaps['stop'] < stop_s else 'is as long as the stop itself'),
        ]
    if 'kill' in gaps:
        lines += [
            '- `docker kill` is a crash of the processes, but the kernel still closes their TCP connections,',
            '  so the other nodes see the Erlang distribution link drop at once (median confirm gap %s s).' % gaps['kill'],
            '  A silent loss (power cut, network partition) is not measured here: there the nodes',
            '  only find out through failure-detector timeouts, and the gap would be longer.',
        ]
    lines += [
        '- One message in flight per publisher makes the figures latency-bound: a client that keeps',
        '  many unconfirmed publishes in flight (asynchronous confirms) would get more per second.',
        '- Per-round raw results are printed as JSON lines by the script.',
        '',
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(lines), encoding='utf-8')
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=3, help='rounds (each: 3 throughput runs and a leader loss)')
    parser.add_argument('--seconds', type=float, default=10, help='length of each throughput run')
    parser.add_argument('--failover-seconds', type=float, default=20, help='length of the publisher run with the leader loss')
    parser.add_argument('--stop-modes', default='stop,kill',
                        help='comma-separated leader-loss modes per round: stop (docker stop, orderly), kill (docker kill, crash)')
    parser.add_argument('--report', type=Path, default=REPORT)
    args = parser.parse_args()
    modes = [m for m in args.stop_modes.split(',') if m]
    if not modes or any(m not in ('stop', 'kill') for m in modes) or len(set(modes)) != len(modes):
        parser.error('--stop-modes: a comma-separated list of stop and/or kill')
    if args.runs < 1 or not 1 <= args.seconds <= 120 or not 10 <= args.failover_seconds <= 120:
        parser.error('--runs >= 1, --seconds 1..120, --failover-seconds 10..120')

    scenario = yaml.safe_load((SCENARIO / 'molecule.yml').read_text(encoding='utf-8'))
    group_vars = scenario['provisioner']['inventory']['group_vars']['rabbitmq']
    bench = Bench(group_vars.get('rabbitmq_app_user', 'flash'), group_vars['rabbitmq_app_password'])
    bench.install_client()
    bench.wait_ready(120)
    ctx = {
        'command': shlex.join(['.venv/bin/python', 'tests/bench/rabbitmq_bench.py'] + sys.argv[1:]),
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'),
        'machine': machine_facts(), 'broker': broker_facts(bench),
        'erl_args': group_vars.get('rabbitmq_server_additional_erl_args', ''),
        'user': bench.user, 'seconds': args.seconds, 'failover_seconds': args.failover_seconds,
        'stop_modes': modes, 'load_before': os.getloadavg(),
    }
    rounds = []
    for n in range(1, args.runs + 1):
        leader, follower = bench.leader_and_follower()
        result = {'round': n, 'load': os.getloadavg()[0]}
        result['quorum_follower'] = bench.throughput(follower, QUORUM_QUEUE, args.seconds, 'qf-%d' % n)
        result['quorum_leader'] = bench.throughput(leader, QUORUM_QUEUE, args.seconds, 'ql-%d' % n)
        result['classic'] = bench.throughput(follower, CLASSIC_QUEUE, args.seconds, 'cl-%d' % n)
        for mode in modes:
            result['failover_' + mode] = bench.failover(args.failover_seconds, 'fo-%s-%d' % (mode, n), mode)
        print(json.dumps(result), flush=True)
        rounds.append(result)
    ctx['load_after'] = os.getloadavg()
    result = write_report(args.report, ctx, rounds)
    with open(args.report, encoding='utf-8') as report:
        print(report.read())
    print('wrote %s' % args.report)
    return exit_code(result)


if __name__ == '__main__':
    sys.exit(main())
