# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 15: an operator changes two variables and previews the change before making it.

On the converged lab, `redis_sentinel_down_after_ms` and `proxy_limit_req_general` change in
the lab's vars (a second inventory source holding group_vars for `redis` and `proxy`, as an
operator's edit of the inventory would). Then:

1. `site.yml --check --diff` fails nothing, reports changed tasks on the Redis and proxy hosts
   only, shows both new values in its diff, and the lab still runs the old values (asked of
   every Sentinel and of nginx's files on the proxy);
2. the real run (limited to the Redis, proxy and app hosts, the others' facts from a fact cache)
   changes exactly the (host, task) pairs the preview named, and the lab runs the new values;
3. the run with the lab's own vars (limited the same way) changes the same pairs back, and the lab runs the old values,
   so the rest of the lab check starts from the inventory it knows.

Run by scripts/lab-check.sh from the checkout, with the lab's executor in the environment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import audit_check  # noqa: E402  (tests/lab/audit_check.py: the same reading of a run's changes)
import recap  # noqa: E402  (tests/lab/recap.py: the one PLAY RECAP reader)

# The audit summary written into each changed host's journal (playbooks/audit_summary.yml) records
# a real run's changes; check mode skips it, so it is compared apart: one per changed host.
SUMMARY = audit_check.SUMMARY_TASK
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
# The preview source must sit two levels under the checkout: the lab's lab_state_dir is
# "{{ inventory_dir }}/../../.lab" for the hosts it defines.
PREVIEW = os.path.join(ROOT, '.build', 'lab-preview')
FACTS = os.path.join(ROOT, '.build', 'lab-preview-facts')
LOGS = os.path.join(ROOT, '.build', 'lab-check')
LIMIT = 'redis:proxy:app:localhost'
OLD_DOWN_AFTER, NEW_DOWN_AFTER = 5000, 6000
OLD_LIMIT, NEW_LIMIT = {'rate': '20r/s', 'burst': 40}, {'rate': '30r/s', 'burst': 60}


def changed_pairs(text):
    """{(host, task)} of every changed task and handler in default-callback output."""
    return {(host, task) for task, host in audit_check.changed_in_log(text)}


def split_summaries(pairs):
    """(the pairs without the journal summaries, the hosts that got one)."""
    return {p for p in pairs if p[1] != SUMMARY}, {host for host, task in pairs if task == SUMMARY}


def failures(text):
    return recap.problems(text)


def write_preview(groups):
    shutil.rmtree(PREVIEW, ignore_errors=True)
    os.makedirs(os.path.join(PREVIEW, 'group_vars', 'redis'))
    os.makedirs(os.path.join(PREVIEW, 'group_vars', 'proxy'))
    with open(os.path.join(PREVIEW, 'hosts.yml'), 'w') as handle:
        json.dump({'all': {'children': {g: {'hosts': {h: None for h in groups[g]}} for g in ('redis', 'proxy')}}}, handle)
    with open(os.path.join(PREVIEW, 'group_vars', 'redis', 'preview.yml'), 'w') as handle:
        json.dump({'redis_sentinel_down_after_ms': NEW_DOWN_AFTER}, handle)
    with open(os.path.join(PREVIEW, 'group_vars', 'proxy', 'preview.yml'), 'w') as handle:
        json.dump({'proxy_limit_req_general': NEW_LIMIT}, handle)


def site(name, *extra, preview=True):
    """Run site.yml with the lab's inventory (and the preview source); every run keeps the facts it
    gathers in a jsonfile fact cache, so a run limited to the changed hosts still reads the others'
    addresses (the firewall, the proxy's upstreams), as an operator's `--limit` run with a fact cache
    does."""
    cmd = ['ansible-playbook', '-i', 'inventories/lab'] + (['-i', PREVIEW] if preview else []) + ['playbooks/site.yml'] + list(extra)
    env = dict(os.environ, ANSIBLE_CACHE_PLUGIN='jsonfile', ANSIBLE_CACHE_PLUGIN_CONNECTION=FACTS, ANSIBLE_CACHE_PLUGIN_TIMEOUT='7200')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    log = os.path.join(LOGS, 'preview-%s.log' % name)
    with open(log, 'w') as handle:
        handle.write(proc.stdout)
    failed = failures(proc.stdout)
    if proc.returncode != 0 or failed:
        sys.exit('preview: `%s` exited %d (%s); log: %s' % (' '.join(cmd), proc.returncode, '; '.join(failed), log))
    return proc.stdout, log


def live_values(ep):
    """(down-after-milliseconds per Sentinel and master, nginx's general rate/burst lines)."""
    auth = open(ep['credentials']['redis-sentinel-auth']).read().strip()
    downs = {}
    for sentinel in ep['redis']['sentinels']:
        host, port = sentinel.rsplit(':', 1)
        for name in ep['redis']['master_names']:
            out = subprocess.run(['docker', 'exec', '-e', 'REDISCLI_AUTH', host, 'redis-cli', '-p', port, 'SENTINEL', 'MASTER', name],
                                 env=dict(os.environ, REDISCLI_AUTH=auth), stdout=subprocess.PIPE, universal_newlines=True,
                                 timeout=30, check=True).stdout.split()
            downs['%s %s' % (sentinel, name)] = int(dict(zip(out[::2], out[1::2]))['down-after-milliseconds'])
    proxy = ep['groups']['proxy'][0]
    nginx = subprocess.run(['docker', 'exec', proxy, 'grep', '-rhoE', r'zone=flash_general(:\S+ rate=\S+| burst=\S+)', '/etc/nginx'],
                           stdout=subprocess.PIPE, universal_newlines=True, timeout=30, check=False).stdout.split('\n')
    return downs, sorted({line.strip().rstrip(';') for line in nginx if line.strip()})


def expect_live(ep, down_after, limit, when):
    downs, nginx = live_values(ep)
    wrong = sorted(k for k, v in downs.items() if v != down_after)
    if not downs or wrong:
        sys.exit('preview: %s, down-after-milliseconds should be %d: %s' % (when, down_after, {k: downs[k] for k in wrong} or 'no Sentinel answered'))
    rate = any(line.endswith('rate=' + limit['rate']) for line in nginx)
    burst = any(line.endswith('burst=%d' % limit['burst']) for line in nginx)
    if not (rate and burst):
        sys.exit('preview: %s, nginx should limit at rate=%s burst=%d; its files say %s' % (when, limit['rate'], limit['burst'], nginx))


def main():
    ep = json.load(open(os.path.join(ROOT, '.lab', 'endpoints.json')))
    groups = ep['groups']
    expect_live(ep, OLD_DOWN_AFTER, OLD_LIMIT, 'before the change')
    write_preview(groups)
    shutil.rmtree(FACTS, ignore_errors=True)
    try:
        # On every host: the preview must show that nothing outside the Redis and proxy hosts moves.
        text, log = site('check', '--check', '--diff')
        previewed = changed_pairs(text)
        hosts = {host for host, dummy in previewed}
        allowed = set(groups['redis']) | set(groups['proxy']) | {'localhost'}
        if hosts - allowed:
            sys.exit('preview: --check --diff predicts changes on hosts the variables do not touch: %s (log: %s)'
                     % (sorted(hosts - allowed), log))
        for group in ('redis', 'proxy'):
            if not set(groups[group]) <= hosts:
                sys.exit('preview: --check --diff predicts no change on %s (%s) (log: %s)' % (group, sorted(set(groups[group]) - hosts), log))
        missing = [word for word in ('down-after-milliseconds', str(NEW_DOWN_AFTER), 'rate=' + NEW_LIMIT['rate'],
                                     'burst=%d' % NEW_LIMIT['burst']) if word not in text]
        if missing:
            sys.exit('preview: the diff does not show %s (log: %s)' % (missing, log))
        expect_live(ep, OLD_DOWN_AFTER, OLD_LIMIT, 'after --check --diff (which must change nothing)')
        print(json.dumps({'step': 'preview', 'ok': True, 'check_changed': sorted('%s: %s' % p for p in previewed)}), flush=True)

        # The real run and the way back only on the hosts the preview named, with the app hosts
        # (the deploy plays read their containers before they touch the proxies) and the
        # controller (the inventory checks and the deploy plan): about half the lab's hosts, the
        # other half's facts from the check run's cache.
        text, log = site('apply', '--limit', LIMIT)
        applied, summaries = split_summaries(changed_pairs(text))
        if summaries != {host for host, dummy in previewed} - {'localhost'}:
            sys.exit('preview: the real run wrote journal summaries on %s, but changed %s (log: %s)'
                     % (sorted(summaries), sorted({host for host, dummy in previewed}), log))
        if applied != previewed:
            sys.exit('preview: the real run changed %s; the preview said %s (log: %s)'
                     % (sorted(applied - previewed) or 'nothing more', sorted(previewed - applied) or 'nothing more', log))
        expect_live(ep, NEW_DOWN_AFTER, NEW_LIMIT, 'after the real run')
    finally:
        shutil.rmtree(PREVIEW, ignore_errors=True)
    text, log = site('revert', '--limit', LIMIT, preview=False)
    reverted, dummy = split_summaries(changed_pairs(text))
    if reverted != previewed:
        sys.exit('preview: going back to the lab\'s vars changed %s, not the previewed %s (log: %s)'
                 % (sorted(reverted), sorted(previewed), log))
    expect_live(ep, OLD_DOWN_AFTER, OLD_LIMIT, 'after going back to the lab\'s vars')
    print(json.dumps({'step': 'preview', 'ok': True, 'applied_exactly': len(applied), 'reverted': len(reverted)}), flush=True)


if __name__ == '__main__':
    main()
