# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Search every log the lab's hosts and containers keep for secret values.

    python3 tests/lab/log_search.py VALUE_FILE   # one value per line; exit 1 if any is found

What is read, on every host of .lab/endpoints.json:
  - the host's journal (`journalctl -o cat`, every unit, every boot the journal holds),
  - every file under /var/log except the binary journal (Redis, RabbitMQ, nginx, HAProxy,
    ModSecurity's audit log, apt ...), and
  - the host container's console (`docker logs`);
and the console of every app container the lab's app hosts run (label io.flash.app.host).

`search()` first plants a marker in one host's journal and one file under its /var/log and
requires the search to find both: a search that cannot read a source fails instead of passing.
"""
import json
import os
import secrets
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLANTED_LOG = '/var/log/flash-log-search-control.log'


def _run(cmd, timeout=120):
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    return done.returncode, done.stdout.decode('utf-8', 'replace')


def sources(hosts):
    """(name, text) for every log source of the lab; a source that cannot be read raises."""
    found = []
    for host in hosts:
        for what, cmd in (
                ('journal', ['docker', 'exec', host, 'journalctl', '--no-pager', '-o', 'cat']),
                ('var-log', ['docker', 'exec', host, 'sh', '-c',
                             "find /var/log -path /var/log/journal -prune -o -type f -print0 | xargs -0 -r cat"]),
                ('console', ['docker', 'logs', host])):
            rc, text = _run(cmd)
            if rc != 0:
                raise RuntimeError('%s: cannot read its %s (rc %d): %s' % (host, what, rc, text[-300:]))
            found.append(('%s:%s' % (host, what), text))
    rc, names = _run(['docker', 'ps', '-a', '--format', '{{.Names}}\t{{.Label "io.flash.app.host"}}'])
    if rc != 0:
        raise RuntimeError('docker ps failed: %s' % names)
    for line in names.splitlines():
        name, dummy, app_host = line.partition('\t')
        if app_host in hosts:
            rc, text = _run(['docker', 'logs', name])
            if rc != 0:
                raise RuntimeError('%s: cannot read its console (rc %d)' % (name, rc))
            found.append(('%s:console' % name, text))
    return found


def plant(host):
    """Write two fresh markers on a host, one to its journal and one to a file under /var/log."""
    journal_marker = 'planted-journal-%s' % secrets.token_hex(12)
    file_marker = 'planted-file-%s' % secrets.token_hex(12)
    rc, out = _run(['docker', 'exec', host, 'sh', '-c',
                    'logger -t flash-log-search %s && echo %s >> %s' % (journal_marker, file_marker, PLANTED_LOG)])
    if rc != 0:
        raise RuntimeError('%s: cannot plant the control markers: %s' % (host, out))
    return [journal_marker, file_marker]


def search(values, hosts):
    """Return {value index: [sources]} for every value found, after proving the search works."""
    values = [v for v in values if v]
    if not values or not hosts:
        raise ValueError('nothing to search for, or no host to search')
    markers = plant(hosts[0])
    try:
        # journald may take a moment to make a new entry readable.
        for attempt in range(10):
            logs = sources(hosts)
            missing = [m for m in markers if not any(m in text for dummy, text in logs)]
            if not missing:
                break
            subprocess.run(['sleep', '1'], check=False)
        if missing:
            raise RuntimeError('positive control failed: the search did not find %s on %s' % (missing, hosts[0]))
    finally:
        _run(['docker', 'exec', hosts[0], 'rm', '-f', PLANTED_LOG])
    leaks = {}
    for index, value in enumerate(values):
        where = [name for name, text in logs if value in text]
        if where:
            leaks[index] = where
    return leaks, len(logs)


def main():
    with open(sys.argv[1]) as handle:
        values = [line.rstrip('\n') for line in handle]
    with open(os.path.join(ROOT, '.lab', 'endpoints.json')) as handle:
        hosts = sorted(json.load(handle)['hosts'])
    leaks, count = search(values, hosts)
    # Never print a value: the index of the line and where it was found.
    print(json.dumps({'sources': count, 'values': len(values), 'leaks': leaks}))
    return 1 if leaks else 0


if __name__ == '__main__':
    sys.exit(main())
