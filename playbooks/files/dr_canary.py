# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR drill's canary (playbooks/dr_drill.yml), on the controller.

    dr_canary.py run --url URL [--ca FILE] --log FILE --stop FILE [--interval 10] [--max-seconds 3600]
        Every interval, one chat command through the app's own path: POST <url>api/commands
        {"user": "dr-canary-<ms>", "command": "help"}. The app keeps a session for the user in
        Redis (index key whatsapp:<sha256 of the user>, as the real app's SessionService), so
        every answered command is a timestamped write. One JSON line per attempt:
        {"t": epoch seconds, "iso": UTC time, "user": ..., "status": HTTP status or null, "error": ...}.
        Ends when the stop file exists, when the log is removed or replaced (a later drill, or
        lab-destroy removing .lab), or after max-seconds.
    dr_canary.py report --log FILE --loss EPOCH --host H --port P [--user U]
        (the password in DR_REDIS_PASSWORD) Which canaries answered before the loss are in the
        Redis instance at H:P now (after the restore). Prints one JSON object: written, found,
        last_found_t, rpo_s (loss - the last canary found), missing (the users written before
        the loss and not found). Exit 0; the playbook judges.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import hashlib
import json
import os
import ssl
import sys
import time

try:
    from urllib.request import Request, urlopen
    from urllib.error import HTTPError
except ImportError:  # pragma: no cover (Python 2 is not a controller here)
    sys.exit('dr_canary.py needs Python 3')


def session_index_key(user):
    """The app's session index key of a user (SessionService: whatsapp:<sha256 of the id>)."""
    return 'whatsapp:' + hashlib.sha256(user.encode()).hexdigest()


def command(url, context, user, timeout=5):
    """One chat command through the proxy; (status or None, error text)."""
    body = json.dumps({'user': user, 'command': 'help'}).encode()
    request = Request(url.rstrip('/') + '/api/commands', data=body, method='POST',
                      headers={'Content-Type': 'application/json'})
    try:
        with urlopen(request, context=context, timeout=timeout) as answer:
            answer.read()
            return answer.status, ''
    except HTTPError as exc:
        return exc.code, str(exc)
    except Exception as exc:  # pylint: disable=broad-except
        return None, '%s: %s' % (type(exc).__name__, exc)


def replaced(log, path):
    """True when the log at path is no longer the file this canary writes (removed, or a later
    drill's canary made a new one): this canary's drill is over."""
    try:
        return os.stat(path).st_ino != os.fstat(log.fileno()).st_ino
    except OSError:
        return True


def run(args):
    context = ssl.create_default_context(cafile=args.ca) if args.ca else None
    deadline = time.time() + args.max_seconds
    with open(args.log, 'a') as log:
        while time.time() < deadline and not os.path.exists(args.stop) and not replaced(log, args.log):
            started = time.time()
            user = 'dr-canary-%d' % int(started * 1000)
            status, error = command(args.url, context, user)
            log.write(json.dumps({'t': started, 'iso': time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(started)),
                                  'user': user, 'status': status, 'error': error}) + '\n')
            log.flush()
            time.sleep(max(0.0, args.interval - (time.time() - started)))
    return 0


def read_log(path):
    with open(path) as log:
        return [json.loads(line) for line in log if line.strip()]


def report(args):
    import redis  # the controller's (the lab's venv has it); imported here so `run` needs nothing
    client = redis.Redis(host=args.host, port=args.port, username=None if args.user in (None, '', 'default') else args.user,
                         password=os.environ.get('DR_REDIS_PASSWORD') or None, socket_timeout=10)
    written = [e for e in read_log(args.log) if e['status'] == 200 and e['t'] < args.loss]
    found = [e for e in written if client.exists(session_index_key(e['user']))]
    last = max((e['t'] for e in found), default=None)
    print(json.dumps({
        'written': len(written),
        'found': len(found),
        'last_written_t': max((e['t'] for e in written), default=None),
        'last_found_t': last,
        'rpo_s': round(args.loss - last, 1) if last is not None else None,
        # Lost canaries written before the last one found would mean a restore of the wrong
        # data, not a late copy: the playbook fails on them.
        'missing': [e['user'] for e in written if e not in found],
        'missing_before_last_found': [e['user'] for e in written if e not in found and last is not None and e['t'] < last],
    }, sort_keys=True))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='action')
    p_run = sub.add_parser('run')
    p_run.add_argument('--url', required=True)
    p_run.add_argument('--ca')
    p_run.add_argument('--log', required=True)
    p_run.add_argument('--stop', required=True)
    p_run.add_argument('--interval', type=float, default=10.0)
    p_run.add_argument('--max-seconds', type=float, default=3600.0)
    p_report = sub.add_parser('report')
    p_report.add_argument('--log', required=True)
    p_report.add_argument('--loss', type=float, required=True)
    p_report.add_argument('--host', required=True)
    p_report.add_argument('--port', type=int, required=True)
    p_report.add_argument('--user')
    args = parser.parse_args(argv)
    if args.action == 'run':
        return run(args)
    if args.action == 'report':
        return report(args)
    parser.print_usage()
    return 2


if __name__ == '__main__':
    sys.exit(main())
