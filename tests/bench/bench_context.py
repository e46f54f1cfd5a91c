# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every lab benchmark's report opens with (the command that made it, when, where, the load
before and after) and how it is published (printed, and written to docs/benchmarks/<topic>.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import platform
import sys


def loadavg():
    return '%.1f/%.1f/%.1f' % os.getloadavg()


def context(script, load_before, **extra):
    """The run's facts, taken at its end: the command line, UTC date, platform, cores and load."""
    ctx = {'command': ('.venv/bin/python tests/bench/%s %s' % (script, ' '.join(sys.argv[1:]))).strip(),
           'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
           'platform': platform.platform(terse=True), 'cores': os.cpu_count(), 'load_before': load_before,
           'load_after': loadavg()}
    ctx.update(extra)
    return ctx


def made_by(ctx):
    return ('Made by `%s` on %s, %s, %d cores; load (1/5/15 min) %s before, %s after.'
            % (ctx['command'], ctx['date'], ctx['platform'], ctx['cores'], ctx['load_before'], ctx['load_after']))


def publish(text, out):
    print(text)
    with open(out, 'w') as handle:
        handle.write(text)
