# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of ansible-playbook's PLAY RECAP for the lab's checks and benchmarks.

    recap(text)       -> {host: {'ok': n, 'changed': n, 'unreachable': n, 'failed': n, 'skipped': n, ...}}
    problems(text, changed=False, hosts=None) -> ["<host>: failed=1", ...]

A counter the recap line does not print (older Ansible has no 'rescued'/'ignored') is absent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# "lab-redis-1 : ok=12 changed=0 unreachable=0 failed=0 skipped=3 rescued=0 ignored=0"
LINE = re.compile(r'^(?P<host>[A-Za-z0-9_.:-]+)\s+:\s+(?P<counters>ok=\d+(?:\s+[a-z]+=\d+)+)\s*$')
COUNTER = re.compile(r'([a-z]+)=(\d+)')


def recap(text):
    """{host: {counter: int}} from every PLAY RECAP line in text (the last line of a host wins)."""
    hosts = {}
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if match:
            hosts[match.group('host')] = {k: int(v) for k, v in COUNTER.findall(match.group('counters'))}
    return hosts


def problems(text, changed=False, hosts=None):
    """What a run did wrong, one string per host and counter: failed or unreachable always,
    changed too when changed=True; only the hosts that `hosts(host)` accepts when given.
    A text with no PLAY RECAP is a problem, never a pass."""
    found = recap(text)
    if not found:
        return ['no PLAY RECAP in the output']
    counters = ('failed', 'unreachable') + (('changed',) if changed else ())
    return ['%s: %s=%d' % (host, counter, values.get(counter, 0))
            for host, values in sorted(found.items()) if hosts is None or hosts(host)
            for counter in counters if values.get(counter, 0)]
