# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's firewall proven by probes (issue 13): from every lab host and from this machine, each
service port of every other host is reachable exactly when the policy below says so.

The policy is written here from the issue, not read from the roles' declarations, so a declaration
that opens too much or too little fails. A probe tells three answers apart: ``open`` (connected),
``refused`` (a reset: the packet passed the firewall, nothing listens) and ``filtered`` (no answer
within the timeout: dropped). An allowed port must not be filtered, and must be open where a
daemon always listens; a port nobody is allowed must be filtered from everywhere.
"""

import concurrent.futures
import json
import os
import subprocess
import sys

# Who reaches what, from issue 13. "admin" is this machine (the lab's admin allowlist), "any"
# everyone. The last field says whether a daemon always listens there (then it must be open).
POLICY = {
    'redis': [((6379, 6380, 26379), {'app', 'redis', 'monitoring', 'admin'}, True)],
    'rabbitmq': [((5672,), {'app'}, True),
                 ((4369, 25672), {'rabbitmq'}, True),
                 ((35672, 35682), {'rabbitmq'}, False),   # the CLI tools' range: listens only while one runs
                 ((15672,), {'monitoring', 'admin'}, True),
                 ((15692,), {'monitoring'}, True)],      # the prometheus plugin, scraped by the monitoring host
    'proxy': [((443, 80), {'any'}, True),
              ((9113,), {'monitoring'}, True)],           # the nginx exporter (issue 11)
    'app': [((3000, 3001), {'proxy', 'monitoring'}, False)],  # the live colour listens (the other may be stopped); Prometheus reads its /metrics
    # Issue 11: Prometheus and Alertmanager for the monitoring hosts and the admins; the blackbox
    # and Redis exporters for the monitoring hosts only.
    'monitoring': [((9090, 9093), {'monitoring', 'admin'}, True),
                   ((9115, 9121), {'monitoring'}, True)],
    # Every host: the node exporter, scraped by the monitoring hosts (issue 11).
    'all': [((9100,), {'monitoring'}, True)],
}
# Ports no role opens on any host (SSH is off in the lab: it is reached with docker exec), probed
# everywhere too: the default-deny itself, and loopback-only listeners (HAProxy's local endpoints
# on the app hosts, nginx's stub_status on the proxy, the lab's alert sink on the monitoring host)
# that must not be reachable from outside.
OTHERS = (22, 8080, 2525, 9090, 9100, 9121, 5432, 6381, 15671)
TIMEOUT_S = 3.0

PROBE = r'''
import json, socket, sys, concurrent.futures as cf
targets, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
def probe(t):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.settimeout(timeout)
    try:
        s.connect((t[0], t[1])); return 'open'
    except ConnectionRefusedError:
        return 'refused'
    except (socket.timeout, TimeoutError):
        return 'filtered'
    except OSError as e:
        return 'error:%s' % e.errno
    finally:
        s.close()
with cf.ThreadPoolExecutor(64) as pool:
    print(json.dumps(list(pool.map(probe, targets))))
'''


def expected(target_groups, source_groups):
    """For one target host: {port: (allowed, must_be_open)} over its service ports and OTHERS."""
    table = {}
    for group in target_groups:
        for ports, who, listens in POLICY.get(group, []):
            allowed = 'any' in who or bool(who & source_groups)
            for port in ports:
                table[port] = (allowed, allowed and listens)
    for port in OTHERS:
        table.setdefault(port, (False, False))
    return table


def run_probes(source, targets):
    """Probe ``targets`` [(address, port)] from lab host ``source`` (None: this machine)."""
    args = [json.dumps(targets), str(TIMEOUT_S)]
    cmd = ([sys.executable, '-c', PROBE] if source is None else ['docker', 'exec', source, 'python3', '-c', PROBE]) + args
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                         timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def check_matrix(ep):
    """Probe every (source, target, port); return (figures, problems)."""
    hosts, groups = ep['hosts'], ep['groups']
    group_of = {h: {g for g, members in groups.items() if h in members and g in POLICY} | {'all'} for h in hosts}
    sources = [(h, group_of[h]) for h in sorted(hosts)] + [(None, {'admin'})]
    problems, counts = [], {'open': 0, 'refused': 0, 'filtered': 0}
    plans = []
    for source, source_groups in sources:
        plan = []
        for target in sorted(hosts):
            if target == source:
                continue
            for port, (allowed, must_open) in sorted(expected(group_of[target], source_groups).items()):
                plan.append((target, hosts[target], port, allowed, must_open))
        plans.append((source, plan))
    # Every source probes at the same time (each waits TIMEOUT_S at most for its filtered ports).
    with concurrent.futures.ThreadPoolExecutor(len(plans)) as pool:
        results = list(pool.map(lambda item: run_probes(item[0], [(p[1], p[2]) for p in item[1]]), plans))
    for (source, plan), answers in zip(plans, results):
        for (target, dummy, port, allowed, must_open), answer in zip(plan, answers):
            counts[answer] = counts.get(answer, 0) + 1
            where = '%s -> %s:%d' % (source or 'controller', target, port)
            if not allowed and answer != 'filtered':
                problems.append('%s is %s but the policy does not allow this source there' % (where, answer))
            elif allowed and answer == 'filtered':
                problems.append('%s is filtered but the policy allows it' % where)
            elif must_open and answer != 'open':
                problems.append('%s is %s but a daemon listens there' % (where, answer))
    figures = dict(counts, sources=len(sources), probes=sum(counts.values()))
    return figures, problems


def tables(ep):
    """Each host's table as the kernel holds it: the input policy and the rule count (nft --json)."""
    result = {}
    for host in sorted(ep['hosts']):
        out = subprocess.run(['docker', 'exec', host, 'nft', '--json', 'list', 'table', 'inet', 'flash'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60,
                             check=False).stdout
        try:
            items = json.loads(out)['nftables']
        except ValueError:
            result[host] = {'error': out.strip()[:200]}
            continue
        chains = [i['chain'] for i in items if 'chain' in i and i['chain'].get('hook') == 'input']
        result[host] = {'input_policy': chains[0].get('policy') if chains else None,
                        'rules': sum(1 for i in items if 'rule' in i)}
    return result


if __name__ == '__main__':
    STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), '.lab')
    with open(os.path.join(STATE, 'endpoints.json')) as handle:
        EP = json.load(handle)
    print(json.dumps(tables(EP), indent=1))
    FIGURES, PROBLEMS = check_matrix(EP)
    print(json.dumps(FIGURES))
    print('\n'.join(PROBLEMS) or 'all probes as the policy says')
    sys.exit(1 if PROBLEMS else 0)
