# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan's retention, computed from the snapshot list alone (not from restic's code).

stdin: `restic snapshots --json` of one host. stdout: the ids the plan keeps, one a line.
The plan, for the full snapshots (tag flash): the newest snapshot of each hour for 24 hours, of
each day for 7 days, of each ISO week for 1 month, all counted back from the newest of them
(restic's reference for --keep-within-*, so that a stopped backup never empties the repository).
The frequent snapshots (tag frequent, the RPO's) apart: every one within N hours of the newest
of them. Snapshots with neither tag are kept (not the role's).
"""
import datetime
import json
import re
import sys


def parse(text):
    # RFC 3339 with nanoseconds: keep microseconds, which datetime holds.
    text = re.sub(r'(\.\d{6})\d*', r'\1', text).replace('Z', '+00:00')
    return datetime.datetime.fromisoformat(text).astimezone(datetime.timezone.utc)


def months_back(t, months):
    # Calendar months, overflowing days rolling forward (Oct 31 - 1 month = Oct 1, as Go's AddDate).
    y, m = divmod(t.year * 12 + (t.month - 1) - months, 12)
    return t.replace(year=y, month=m + 1, day=1) + datetime.timedelta(days=t.day - 1)


def expected(snapshots, hours=24, days=7, months=1, frequent_hours=2):
    full = [s for s in snapshots if 'flash' in (s.get('tags') or [])]
    frequent = [(parse(s['time']), s['id']) for s in snapshots if 'frequent' in (s.get('tags') or [])]
    keep = set(s['id'] for s in snapshots if not {'flash', 'frequent'} & set(s.get('tags') or []))
    if frequent:
        newest = max(t for t, _sid in frequent)
        keep.update(sid for t, sid in frequent if t > newest - datetime.timedelta(hours=frequent_hours))
    return sorted(keep | plan(full, hours, days, months))


def plan(snapshots, hours, days, months):
    snaps = [(parse(s['time']), s['id']) for s in snapshots]
    if not snaps:
        return set()
    newest = max(t for t, _sid in snaps)
    rules = [
        (newest - datetime.timedelta(hours=hours), lambda t: (t.year, t.month, t.day, t.hour)),
        (newest - datetime.timedelta(days=days), lambda t: (t.year, t.month, t.day)),
        (months_back(newest, months), lambda t: t.isocalendar()[:2]),
    ]
    keep = set()
    for cutoff, bucket in rules:
        newest_of = {}
        for t, sid in snaps:
            if t > cutoff and (bucket(t) not in newest_of or t > newest_of[bucket(t)][0]):
                newest_of[bucket(t)] = (t, sid)
        keep.update(sid for _t, sid in newest_of.values())
    return keep


if __name__ == '__main__':
    print('\n'.join(expected(json.load(sys.stdin), *map(int, sys.argv[1:5]))))
