# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fabricated snapshot times over 40 days before now, with gaps (days and hours without any
snapshot, days with two), so that count-based flags (--keep-daily 7, --keep-hourly 24) would keep
a different set than the plan; and frequent snapshots every 7 minutes over the last 3 hours, some
of them the newest of their hour (so a policy that mixed them with the others would drop hourly
snapshots). Prints `TAG|YYYY-MM-DD HH:MM:SS` lines (UTC)."""
import datetime

now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
lines = []
for h in range(1, 31):
    if h in (5, 6, 7, 15):
        continue
    lines.append(('hourly', now - datetime.timedelta(hours=h, minutes=7)))
today = now.replace(hour=0, minute=0, second=0)
for d in range(2, 41):
    if d in (3, 4, 9, 10, 20, 21, 22):
        continue
    day = today - datetime.timedelta(days=d)
    lines.append(('daily', day + datetime.timedelta(hours=13, minutes=13)))
    if d % 6 == 0:
        lines.append(('hourly', day + datetime.timedelta(hours=1, minutes=13)))
for k in range(26):
    lines.append(('frequent', now - datetime.timedelta(minutes=3 + 7 * k, seconds=11)))
for tag, t in lines:
    print('%s|%s' % (tag, t.strftime('%Y-%m-%d %H:%M:%S')))
