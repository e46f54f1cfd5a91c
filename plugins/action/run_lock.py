# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of flash.connect.run_lock: one operation on the stack at a time (see the module's docs).

Who holds the lock is the ansible-playbook process, not this task. An action plugin runs inside
ansible-playbook's WorkerProcess (ansible/executor/process/worker.py: WorkerProcess is a
multiprocessing Process of the 'fork' context, ansible/utils/multiprocessing.py, started by the
strategy in the ansible-playbook process itself, StrategyBase._queue_task), and TaskExecutor runs
the action in that worker. So os.getppid() here is the pid of the ansible-playbook run, the same
for every task of the run, and dead once the run ended or was killed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import datetime
import errno
import fcntl
import getpass
import json
import os
import socket

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

try:
    from ansible import context as _cli_context
except ImportError:  # pragma: no cover - every supported ansible-core has it
    _cli_context = None

ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    state=dict(type='str', default='acquired', choices=['acquired', 'released']),
    owner=dict(type='str', required=True),
    stale_after=dict(type='int', default=21600),
)

TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
FIELDS = ('pid', 'host', 'owner', 'playbook', 'user', 'started')


class RunLockError(Exception):
    pass


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def run_pid():
    """The ansible-playbook process of this run (see the module docstring)."""
    return os.getppid()


def this_host():
    # gethostname, not getfqdn: the lock compares it with itself on later runs, and getfqdn asks
    # the resolver, whose answer can change between two runs on the same machine.
    return socket.gethostname()


def pid_alive(pid):
    """Whether a process with this pid runs on this machine (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    try:
        with open('/proc/%d/stat' % pid, 'rb') as handle:
            state = handle.read().rsplit(b')', 1)[1].split()[0]
        return state not in (b'Z', b'X')
    except (OSError, IndexError):
        return True


def describe(holder):
    """A holder as a person reads it: owner (pid P on host H, user U, playbook B, since T)."""
    details = ['pid %s on host %s' % (holder.get('pid'), holder.get('host'))]
    if holder.get('user'):
        details.append('user %s' % holder['user'])
    if holder.get('playbook'):
        details.append('playbook %s' % holder['playbook'])
    details.append('since %s' % holder.get('started'))
    return '%s (%s)' % (holder.get('owner') or 'an unnamed run', ', '.join(details))


def parse_holder(data, path):
    """The lock file's content as a dict, or RunLockError naming the path (never taken silently)."""
    problem = None
    holder = None
    try:
        holder = json.loads(to_text(data, errors='strict'))
    except (ValueError, UnicodeError) as exc:
        problem = 'not JSON (%s)' % exc
    if problem is None:
        if not isinstance(holder, dict):
            problem = 'not a JSON object'
        elif not isinstance(holder.get('pid'), int) or isinstance(holder.get('pid'), bool) or holder['pid'] <= 0:
            problem = 'no valid pid'
        elif not isinstance(holder.get('host'), str) or not holder['host']:
            problem = 'no host'
        else:
            try:
                started = datetime.datetime.strptime(str(holder.get('started')), TIME_FORMAT)
                holder['_started'] = started.replace(tzinfo=datetime.timezone.utc)
            except ValueError:
                problem = 'no valid start time (%r)' % holder.get('started')
    if problem:
        raise RunLockError('path: the lock file %s is unreadable or not a run lock: %s. Nothing was taken. If no'
                           ' deploy, rollback or rotate_secrets run is going on, remove %s and run again.'
                           % (path, problem, path))
    return holder


def public(holder):
    return dict((key, holder.get(key)) for key in FIELDS) if holder else None


@contextlib.contextmanager
def directory_locked(directory):
    """Serialise the read-decide-write of every acquire and release on this directory."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the flock


def read_holder(path):
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunLockError('path: cannot read the lock file %s: %s. Nothing was taken.' % (path, exc.strerror or exc))
    return parse_holder(data, path)


def write_new(path, me):
    """Create the lock file; only one creator can succeed (O_CREAT|O_EXCL), mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, to_bytes(json.dumps(me, sort_keys=True) + '\n'))
        os.fsync(fd)
    finally:
        os.close(fd)


def acquire(path, me, stale_after, now):
    """(changed, msg, holder now, holder taken over or None, warnings)."""
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, mode=0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise RunLockError('path: cannot create the directory of the lock file %s: %s'
                                   % (path, exc.strerror or exc))
    with directory_locked(directory):
        holder = read_holder(path)
        taken_over = None
        warnings = []
        if holder is not None:
            same_host = holder['host'] == me['host']
            if same_host and holder['pid'] == me['pid']:
                return (False, 'already held by this run (%s)' % describe(holder), public(holder), None, [])
            if same_host and not pid_alive(holder['pid']):
                warnings.append(
                    'run_lock: took over %s from a run that is no longer running: %s. That run failed or was'
                    ' killed midway; check what it left half-done.' % (path, describe(holder)))
            elif not same_host and (now - holder['_started']).total_seconds() > stale_after:
                warnings.append(
                    'run_lock: took over %s from %s: held for longer than stale_after (%d s) by a run on another'
                    ' machine, whose liveness cannot be checked from here; make sure it is not still running.'
                    % (path, describe(holder), stale_after))
            else:
                raise RunLockError(
                    'run_lock: %s is held by %s: another run is changing the stack. Wait for it to finish and run'
                    ' again; if that run died on another machine, remove %s (a run on this machine that died is'
                    ' taken over by the next run, one on another machine after stale_after, %d s).'
                    % (path, describe(holder), path, stale_after))
            taken_over = public(holder)
            os.unlink(path)
        try:
            write_new(path, me)
        except OSError as exc:
            raise RunLockError('path: cannot create the lock file %s: %s' % (path, exc.strerror or exc))
    msg = ('took over from %s' % describe(taken_over)) if taken_over else 'acquired'
    return (True, msg, dict(me), taken_over, warnings)


def release(path, me):
    """(changed, msg, holder left in place or None)."""
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        return (False, 'not held (no lock file)', None)
    with directory_locked(directory):
        try:
            holder = read_holder(path)
        except RunLockError as exc:
            return (False, 'left in place: %s' % exc, None)
        if holder is None:
            return (False, 'not held (no lock file)', None)
        if holder['host'] != me['host'] or holder['pid'] != me['pid']:
            return (False, 'left in place: held by another run, %s' % describe(holder), public(holder))
        if holder.get('owner') != me['owner']:
            return (False, 'left in place: this run took it as %s, which releases it' % holder.get('owner'),
                    public(holder))
        os.unlink(path)
    return (True, 'released', None)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _supports_check_mode = True  # the lock acts in check mode too (see the docs' check_mode attribute)
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        path = os.path.abspath(args['path'])
        result['path'] = path
        try:
            if args['stale_after'] <= 0:
                raise RunLockError('stale_after: must be a number of seconds above 0 (got %d)' % args['stale_after'])
            if not args['owner'].strip():
                raise RunLockError('owner: must name the run, for example rotate_secrets')
            me = self._identity(args['owner'], task_vars or {})
            if args['state'] == 'acquired':
                changed, msg, holder, taken_over, warnings = acquire(path, me, args['stale_after'], utc_now())
                result.update(changed=changed, msg=msg, holder=holder, taken_over=taken_over)
                if warnings:
                    result['warnings'] = warnings
            else:
                changed, msg, holder = release(path, me)
                result.update(changed=changed, msg=msg, holder=holder)
        except RunLockError as exc:
            result.update(failed=True, changed=False, msg=to_text(exc))
        return result

    @staticmethod
    def _identity(owner, task_vars):
        """What the lock file says about this run; never a secret."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # a container user without a passwd entry
            user = 'uid %d' % os.getuid()
        job = task_vars.get('awx_job_id') or task_vars.get('tower_job_id') or os.environ.get('AWX_JOB_ID')
        if job:
            launched_by = task_vars.get('awx_user_name') or task_vars.get('tower_user_name')
            user = '%s (AWX job %s%s)' % (user, job, (' launched by %s' % launched_by) if launched_by else '')
        playbook = ''
        if _cli_context is not None:
            books = _cli_context.CLIARGS.get('args') or ()
            playbook = ', '.join(to_text(book) for book in books)
        return dict(pid=run_pid(), host=this_host(), owner=owner.strip(), playbook=playbook, user=user,
                    started=utc_now().strftime(TIME_FORMAT))
