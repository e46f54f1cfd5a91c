# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit role's rules, built in the order auditctl needs and checked against its grammar.

auditd cannot load rules in a container (no CAP_AUDIT_CONTROL, no audit netlink per network
namespace): there ``auditctl -R`` stops at "You must be root to run this program." before it parses
a line, and ``augenrules --check`` only compares the merged file with /etc/audit/audit.rules. So
every line that reaches /etc/audit/rules.d is checked here, by the variable it comes from, against
the grammar of auditctl 3.0.9 (Debian 12): watches ``-w PATH [-p rwxa] [-k KEY]``, syscall rules
``-a ACTION,LIST`` (either order) with ``-S`` syscalls (the host's ``ausyscall --dump`` table, or
the static one below), ``-F FIELD OP VALUE`` with auditctl's fields and operators, ``-C`` field
comparisons, and ``-k`` keys. auditctl splits a line on whitespace and knows no quoting, so a path
holding whitespace, a quote or a newline cannot be written as a rule at all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types

_STATIC_SYSCALLS = {
    # ausyscall x86_64 --dump (auditd 1:3.0.9-1, Debian 12)
    'b64': frozenset('''
    read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction
    rt_sigprocmask rt_sigreturn ioctl pread pwrite readv writev access pipe select sched_yield
    mremap msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm
    setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown
    bind listen getsockname getpeername socketpair setsockopt getsockopt clone fork vfork execve
    exit wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl flock
    fsync fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir rmdir creat
    link unlink symlink readlink chmod fchmod chown fchown lchown umask gettimeofday getrlimit
    getrusage sysinfo times ptrace getuid syslog getgid setuid setgid geteuid getegid setpgid
    getppid getpgrp setsid setreuid setregid getgroups setgroups setresuid getresuid setresgid
    getresgid getpgid setfsuid setfsgid getsid capget capset rt_sigpending rt_sigtimedwait
    rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod uselib personality ustat statfs
    fstatfs sysfs getpriority setpriority sched_setparam sched_getparam sched_setscheduler
    sched_getscheduler sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock
    munlock mlockall munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex
    setrlimit chroot sync acct settimeofday mount umount2 swapon swapoff reboot sethostname
    setdomainname iopl ioperm create_module init_module delete_module get_kernel_syms
    query_module quotactl nfsservctl getpmsg putpmsg afs_syscall tuxcall security gettid
    readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr
    flistxattr removexattr lremovexattr fremovexattr tkill time futex sched_setaffinity
    sched_getaffinity set_thread_area io_setup io_destroy io_getevents io_submit io_cancel
    get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old remap_file_pages
    getdents64 set_tid_address restart_syscall semtimedop fadvise64 timer_create timer_settime
    timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres
    clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes vserver mbind set_mempolicy
    get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr
    kexec_load waitid add_key request_key keyctl ioprio_set ioprio_get inotify_init
    inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat fchownat futimesat
    newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll
    unshare set_robust_list get_robust_list splice tee sync_file_range vmsplice move_pages
    utimensat epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime
    timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv
    pwritev rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init fanotify_mark prlimit64
    name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg setns getcpu
    process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2
    seccomp getrandom memfd_create kexec_file_load bpf execveat userfaultfd membarrier mlock2
    copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx io_pgetevents rseq
    pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount
    fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2
    process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset
    landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv
    set_mempolicy_home_node
    '''.split()),
    # ausyscall i386 --dump (auditd 1:3.0.9-1, Debian 12)
    'b32': frozenset('''
    restart_syscall exit fork read write open close waitpid creat link unlink execve chdir time
    mknod chmod lchown break oldstat lseek getpid mount umount setuid getuid stime ptrace alarm
    oldfstat pause utime stty gtty access nice ftime sync kill rename mkdir rmdir dup pipe times
    prof brk setgid getgid signal geteuid getegid acct umount2 lock ioctl fcntl mpx setpgid
    ulimit oldolduname umask chroot ustat dup2 getppid getpgrp setsid sigaction sgetmask
    ssetmask setreuid setregid sigsuspend sigpending sethostname setrlimit getrlimit getrusage
    gettimeofday settimeofday getgroups setgroups select symlink oldlstat readlink uselib swapon
    reboot readdir mmap munmap truncate ftruncate fchmod fchown getpriority setpriority profil
    statfs fstatfs ioperm socketcall syslog setitimer getitimer stat lstat fstat olduname iopl
    vhangup idle vm86old wait4 swapoff sysinfo ipc fsync sigreturn clone setdomainname uname
    modify_ldt adjtimex mprotect sigprocmask create_module init_module delete_module
    get_kernel_syms quotactl getpgid fchdir bdflush sysfs personality afs_syscall setfsuid
    setfsgid _llseek getdents _newselect flock msync readv writev getsid fdatasync _sysctl mlock
    munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler
    sched_getscheduler sched_yield sched_get_priority_max sched_get_priority_min
    sched_rr_get_interval nanosleep mremap setresuid getresuid vm86 query_module poll nfsservctl
    setresgid getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending
    rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend pread64 pwrite64 chown getcwd capget capset
    sigaltstack sendfile getpmsg putpmsg vfork ugetrlimit mmap2 truncate64 ftruncate64 stat64
    lstat64 fstat64 lchown32 getuid32 getgid32 geteuid32 getegid32 setreuid32 setregid32
    getgroups32 setgroups32 fchown32 setresuid32 getresuid32 setresgid32 getresgid32 chown32
    setuid32 setgid32 setfsuid32 setfsgid32 pivot_root mincore madvise getdents64 fcntl64 gettid
    readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr
    flistxattr removexattr lremovexattr fremovexattr tkill sendfile64 futex sched_setaffinity
    sched_getaffinity set_thread_area get_thread_area io_setup io_destroy io_getevents io_submit
    io_cancel fadvise64 exit_group lookup_dcookie epoll_create epoll_ctl epoll_wait
    remap_file_pages set_tid_address timer_create timer_settime timer_gettime timer_getoverrun
    timer_delete clock_settime clock_gettime clock_getres clock_nanosleep statfs64 fstatfs64
    tgkill utimes fadvise64_64 vserver mbind get_mempolicy set_mempolicy mq_open mq_unlink
    mq_timedsend mq_timedreceive mq_notify mq_getsetattr sys_kexec_load waitid add_key
    request_key keyctl ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch
    migrate_pages openat mkdirat mknodat fchownat futimesat fstatat64 unlinkat renameat linkat
    symlinkat readlinkat fchmodat faccessat pselect6 ppoll unshare set_robust_list
    get_robust_list splice sync_file_range tee vmsplice move_pages getcpu epoll_pwait utimensat
    signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime signalfd4 eventfd2
    epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open
    recvmmsg fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at
    clock_adjtime syncfs sendmmsg setns process_vm_readv process_vm_writev kcmp finit_module
    sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create bpf execveat socket
    socketpair bind connect listen accept4 getsockopt setsockopt getsockname getpeername sendto
    sendmsg recvfrom recvmsg shutdown userfaultfd membarrier mlock2 copy_file_range preadv2
    pwritev2 pkey_mprotect pkey_alloc pkey_free statx arch_prctl io_pgetevents rseq semget
    semctl shmget shmctl shmat shmdt msgget msgsnd msgrcv msgctl clock_gettime64 clock_settime64
    clock_adjtime64 clock_getres_time64 clock_nanosleep_time64 timer_gettime64 timer_settime64
    timerfd_gettime64 timerfd_settime64 utimensat_time64 pselect6_time64 ppoll_time64
    io_pgetevents_time64 recvmmsg_time64 mq_timedsend_time64 mq_timedreceive_time64
    semtimedop_time64 rt_sigtimedwait_time64 futex_time64 sched_rr_get_interval64
    pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount
    fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2
    process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset
    landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv
    set_mempolicy_home_node
    '''.split()),
}

# lib/fieldtab.h of audit-userspace 3.0.9, by the kind of value each field takes.
_ID_FIELDS = frozenset(('uid', 'euid', 'suid', 'fsuid', 'gid', 'egid', 'sgid', 'fsgid', 'auid',
                        'loginuid', 'obj_uid', 'obj_gid'))
_INT_FIELDS = frozenset(('pid', 'ppid', 'pers', 'sessionid', 'devmajor', 'devminor', 'inode',
                         'a0', 'a1', 'a2', 'a3', 'saddr_fam'))
_LABEL_FIELDS = frozenset(('subj_user', 'subj_role', 'subj_type', 'subj_sen', 'subj_clr',
                           'obj_user', 'obj_role', 'obj_type', 'obj_lev_low', 'obj_lev_high'))
_PATH_FIELDS = frozenset(('path', 'dir', 'exe'))
_OTHER_FIELDS = frozenset(('arch', 'msgtype', 'exit', 'success', 'perm', 'filetype', 'fstype', 'key'))
_FIELDS = _ID_FIELDS | _INT_FIELDS | _LABEL_FIELDS | _PATH_FIELDS | _OTHER_FIELDS
# Longest first, so "!=" is not read as "!" and "=".
_OPS = ('!=', '<=', '>=', '&=', '=', '<', '>', '&')
_FIELD_OP = re.compile(r'^([a-z][a-z0-9_]*)(!=|<=|>=|&=|=|<|>|&)(.*)$')
_ACTIONS = frozenset(('always', 'never'))
_LISTS = frozenset(('task', 'exit', 'user', 'exclude', 'filesystem'))
_ARCHES = {'b64': 'b64', 'x86_64': 'b64', 'b32': 'b32', 'i386': 'b32', 'i486': 'b32', 'i586': 'b32',
           'i686': 'b32'}
_FILETYPES = frozenset(('file', 'dir', 'directory', 'socket', 'link', 'symlink', 'character', 'block', 'fifo'))
# The project's rule for keys: a name ausearch -k finds as it is (auditctl itself allows 256 bytes).
_KEY = re.compile(r'^[A-Za-z0-9_-]{1,31}$')
_PERMS = re.compile(r'^(?!.*(.).*\1)[rwxa]{1,4}$')
_INT = re.compile(r'^-?(0x[0-9A-Fa-f]+|[0-9]+)$')
_NAME = re.compile(r'^[a-z_][a-z0-9_.-]{0,31}$')
_LABEL = re.compile(r'^[A-Za-z0-9_.:,-]{1,255}$')
_ERRNO = re.compile(r'^-?([0-9]+|E[A-Z0-9]+)$')
_MSGTYPE = re.compile(r'^([0-9]+|[A-Z][A-Z0-9_]*)$')
_FSTYPE = re.compile(r'^[a-z0-9_]{1,32}$')
# Options the role sets itself, in the order augenrules writes them.
_CONTROL = ('-D', '-b', '-f', '-e')


def _path_problem(path):
    """Why ``path`` cannot be written in an audit rule, or None."""
    if not isinstance(path, string_types) or not path:
        return 'the path %r is not a non-empty string' % (path,)
    if re.search(r'[\s"\'\\]', path):
        return 'the path %r holds whitespace, a quote or a backslash (auditctl splits rule lines on whitespace)' % path
    if not path.startswith('/'):
        return 'the path %r is not absolute' % path
    if posixpath.normpath(path) != path and posixpath.normpath(path) + '/' != path:
        return 'the path %r is not normalised (no "..", "." or "//")' % path
    if len(path) > 4095:
        return 'the path is longer than PATH_MAX'
    return None


def _key_problem(key):
    if not isinstance(key, string_types) or not _KEY.match(key):
        return 'the key %r is not 1-31 letters, digits, _ or -' % (key,)
    return None


def _syscall_tables(syscalls):
    """The syscall names by arch: the host's table where given, else the static one."""
    tables = dict(_STATIC_SYSCALLS)
    for arch, names in (syscalls or {}).items():
        if arch in ('b64', 'b32') and names:
            if isinstance(names, string_types):
                # The output of `ausyscall <arch> --dump`: a header, then "<number>\t<name>" lines.
                names = [line.split()[-1] for line in names.splitlines()
                         if line[:1].isdigit() and len(line.split()) == 2]
            tables[arch] = frozenset(to_text(n) for n in names)
    return tables


def _field_problem(field, op, value):
    if field not in _FIELDS:
        return 'unknown field %r' % field
    if value == '':
        return 'the field %s has no value' % field
    if field in _PATH_FIELDS:
        if op not in ('=', '!='):
            return 'the field %s takes = or != only' % field
        return _path_problem(value)
    if field == 'key':
        return _key_problem(value) if op == '=' else 'the field key takes = only'
    if field == 'arch':
        if op not in ('=', '!='):
            return 'the field arch takes = or != only'
        if value not in _ARCHES:
            return 'unknown arch %r (have %s)' % (value, ', '.join(sorted(_ARCHES)))
        return None
    if field == 'perm':
        return None if op == '=' and _PERMS.match(value) else 'perm must be =[rwxa] (each at most once)'
    if field == 'success':
        return None if op in ('=', '!=') and value in ('0', '1') else 'success must be =0 or =1'
    if field == 'exit':
        return None if _ERRNO.match(value) else 'exit must be a number or an errno name such as -EPERM'
    if field == 'filetype':
        return None if op in ('=', '!=') and value in _FILETYPES else 'unknown filetype %r' % value
    if field == 'msgtype':
        return None if _MSGTYPE.match(value) else 'msgtype must be a number or a message type name'
    if field == 'fstype':
        return None if _FSTYPE.match(value) else 'fstype must be a file system name'
    if field in _ID_FIELDS:
        if _INT.match(value) or value == 'unset' or _NAME.match(value):
            return None
        return 'the field %s takes a number, unset or a user/group name, not %r' % (field, value)
    if field in _INT_FIELDS:
        return None if _INT.match(value) else 'the field %s takes a number, not %r' % (field, value)
    return None if _LABEL.match(value) else 'the field %s takes a security label, not %r' % (field, value)


def _watch_problems(tokens):
    path, problems, seen = None, [], set()
    i = 0
    while i < len(tokens):
        opt = tokens[i]
        if opt not in ('-w', '-W', '-p', '-k'):
            return ['unexpected %r in a watch (have -w PATH -p PERMS -k KEY)' % opt]
        if i + 1 >= len(tokens):
            return ['%s has no value' % opt]
        value = tokens[i + 1]
        if opt in seen and opt != '-k':
            return ['%s is given twice' % opt]
        seen.add(opt)
        if opt in ('-w', '-W'):
            path = value
            problem = _path_problem(value)
        elif opt == '-p':
            problem = None if _PERMS.match(value) else 'the permissions %r are not drawn from r, w, x, a' % value
        else:
            problem = _key_problem(value)
        if problem:
            problems.append(problem)
        i += 2
    if path is None:
        problems.append('a watch names no path')
    if len([t for t in tokens if t in ('-w', '-W')]) > 1:
        problems.append('one watch per line')
    return problems


def _syscall_rule_problems(tokens, tables):
    problems, lists, syscalls, arch = [], [], [], None
    i = 0
    while i < len(tokens):
        opt = tokens[i]
        if opt not in ('-a', '-A', '-S', '-F', '-C', '-k'):
            return ['unexpected %r in a rule (have -a ACTION,LIST -S SYSCALL -F FIELD=VALUE -C -k KEY)' % opt]
        if i + 1 >= len(tokens):
            return ['%s has no value' % opt]
        value = tokens[i + 1]
        i += 2
        if opt in ('-a', '-A'):
            parts = value.split(',')
            if (len(parts) != 2 or not (set(parts) & _ACTIONS and set(parts) & _LISTS)
                    or set(parts) - _ACTIONS - _LISTS):
                problems.append('%s %r is not ACTION,LIST or LIST,ACTION (actions: %s; lists: %s)'
                                % (opt, value, ', '.join(sorted(_ACTIONS)), ', '.join(sorted(_LISTS))))
            lists.append([p for p in parts if p in _LISTS][:1])
        elif opt == '-S':
            syscalls.extend(value.split(','))
        elif opt == '-k':
            problem = _key_problem(value)
            if problem:
                problems.append(problem)
        elif opt == '-C':
            match = re.match(r'^([a-z][a-z0-9_]*)(!=|=)([a-z][a-z0-9_]*)$', value)
            if not match or match.group(1) not in _FIELDS or match.group(3) not in _FIELDS:
                problems.append('-C %r is not FIELD=FIELD or FIELD!=FIELD of known fields' % value)
        else:
            match = _FIELD_OP.match(value)
            if not match:
                problems.append('-F %r is not FIELD OP VALUE (ops: %s)' % (value, ' '.join(_OPS)))
                continue
            field, op, field_value = match.groups()
            if field_value[:1] in ('=', '<', '>', '&', '!'):
                problems.append('-F %r: unknown operator' % value)
                continue
            problem = _field_problem(field, op, field_value)
            if problem:
                problems.append('-F %s: %s' % (value, problem))
            elif field == 'arch':
                arch = _ARCHES[field_value]
    if len(lists) != 1:
        problems.append('a rule needs exactly one -a/-A ACTION,LIST')
    elif syscalls and lists[0] != ['exit']:
        problems.append('-S applies to the exit list only')
    table = tables.get(arch or 'b64', frozenset())
    for name in syscalls:
        if name == 'all' or re.match(r'^[0-9]+$', name):
            continue
        if name not in table:
            problems.append('unknown syscall %r for arch %s' % (name, arch or 'b64 (no -F arch given)'))
    return problems


def audit_rule_problems(lines, var='audit_rules_extra', syscalls=None, control=False):
    """Problems of each rule line, as ``<var>: line N '<line>': <why>``; an empty list when all pass.

    ``syscalls`` maps ``b64``/``b32`` to the host's syscall names (``ausyscall --dump``); without
    it the static table of auditd 3.0.9 on x86_64 is used. ``control`` allows -D, -b, -f and -e
    (the role's own lines; refused in extra rules, where they would undo the role's order).
    """
    if isinstance(lines, string_types):
        lines = lines.splitlines()
    if not isinstance(lines, (list, tuple)):
        return ['%s must be a list of rule lines' % var]
    tables = _syscall_tables(syscalls)
    problems = []
    for number, line in enumerate(lines, 1):
        if not isinstance(line, string_types):
            problems.append('%s: line %d %r: not a string' % (var, number, line))
            continue
        why = _line_problems(line, tables, control)
        problems.extend('%s: line %d %r: %s' % (var, number, line, w) for w in why)
    return problems


def _line_problems(line, tables, control):
    if '\n' in line or '\r' in line:
        return ['a line may not hold a newline']
    text = line.strip()
    if not text or text.startswith('#'):
        return []
    if re.search(r'["\']', text):
        return ['auditctl knows no quoting: a quote would be part of the value']
    tokens = text.split()
    head = tokens[0]
    if head in _CONTROL or head in ('-r', '--backlog_wait_time', '--loginuid-immutable'):
        if head in _CONTROL and not control:
            return ['%s is set by the role (audit_buffer, audit_failure_mode, audit_immutable), not by extra rules' % head]
        return _control_problems(tokens)
    if head in ('-w', '-W'):
        return _watch_problems(tokens)
    if head in ('-a', '-A') or '-a' in tokens or '-A' in tokens:
        return _syscall_rule_problems(tokens, tables)
    return ['%r is not a rule auditctl -R reads (-w, -a, -A or a control option)' % head]


def _control_problems(tokens):
    head, args = tokens[0], tokens[1:]
    if head in ('-D', '--loginuid-immutable'):
        if head == '-D' and args[:1] == ['-k'] and len(args) == 2:
            return [p for p in [_key_problem(args[1])] if p]
        return [] if not args else ['%s takes no value here' % head]
    if len(args) != 1:
        return ['%s takes one value' % head]
    value = args[0]
    if head in ('-b', '-r', '--backlog_wait_time'):
        return [] if re.match(r'^[0-9]{1,9}$', value) and (head == '-r' or int(value) > 0) else [
            '%s takes a positive integer, not %r' % (head, value)]
    return [] if value in ('0', '1', '2') else ['%s takes 0, 1 or 2, not %r' % (head, value)]


def _as_list(value, var, problems):
    if value is None:
        return []
    if isinstance(value, string_types) or not isinstance(value, (list, tuple)):
        problems.append('%s must be a list' % var)
        return []
    return list(value)


def audit_rules_plan(settings, present=None, privileged=None, syscalls=None):
    """The rules file's lines in the order auditctl needs, and the problems by variable.

    ``settings`` holds the role's variables by name (audit_buffer, audit_failure_mode,
    audit_immutable, audit_watches, audit_time_syscalls, audit_time_arches,
    audit_time_key, audit_privileged_key, audit_privileged_auid_min, audit_rules_extra).
    ``present`` lists the candidate paths that exist on the host (a watch of a path the host lacks
    is written when the path's directory exists, or, for a list marked ``when_present``, not at
    all: the kernel refuses a watch whose directory is missing). ``privileged`` lists the host's
    setuid/setgid binaries. Returns ``{'lines': [...], 'problems': [...], 'skipped': [...]}``.
    """
    if not isinstance(settings, dict):
        raise AnsibleFilterError('audit_rules_plan: settings must be a mapping of the role variables')
    problems, lines, skipped = [], [], []
    present = set(to_text(p) for p in (present or []))
    tables = _syscall_tables(syscalls)

    buffer_size = settings.get('audit_buffer')
    if isinstance(buffer_size, bool) or not re.match(r'^[0-9]{1,9}$', to_text(buffer_size)) or int(buffer_size) < 1:
        problems.append('audit_buffer must be a positive integer (kernel audit backlog), not %r' % (buffer_size,))
    failure = to_text(settings.get('audit_failure_mode'))
    if failure not in ('0', '1', '2'):
        problems.append('audit_failure_mode must be 0 (silent), 1 (printk) or 2 (panic), not %r' % (failure,))
    immutable = settings.get('audit_immutable')
    if not isinstance(immutable, bool):
        problems.append('audit_immutable must be a boolean')

    lines.extend(['-D', '-b %s' % to_text(buffer_size), '-f %s' % failure])

    for group in _as_list(settings.get('audit_watches'), 'audit_watches', problems):
        var = group.get('var', 'audit_watches') if isinstance(group, dict) else 'audit_watches'
        if not isinstance(group, dict) or set(group) - {'var', 'key', 'perms', 'paths', 'when_present'}:
            problems.append('%s: a watch group is a mapping of var, key, perms, paths, when_present' % var)
            continue
        key_problem = _key_problem(group.get('key'))
        perms = to_text(group.get('perms', 'wa'))
        if key_problem:
            problems.append('%s: %s' % (var, key_problem))
        if not _PERMS.match(perms):
            problems.append('%s: the permissions %r are not drawn from r, w, x, a' % (var, perms))
        for path in _as_list(group.get('paths'), var, problems):
            problem = _path_problem(path)
            if problem:
                problems.append('%s: %s' % (var, problem))
                continue
            path = path.rstrip('/') or '/'
            if path in present or (not group.get('when_present') and posixpath.dirname(path) in present):
                lines.append('-w %s -p %s -k %s' % (path, perms, group.get('key')))
            else:
                skipped.append(path)

    time_key = settings.get('audit_time_key', 'time-change')
    if _key_problem(time_key):
        problems.append('audit_time_key: %s' % _key_problem(time_key))
    time_calls = [to_text(s) for s in _as_list(settings.get('audit_time_syscalls'), 'audit_time_syscalls', problems)]
    for arch in _as_list(settings.get('audit_time_arches'), 'audit_time_arches', problems):
        if arch not in ('b64', 'b32'):
            problems.append('audit_time_arches: %r is not b64 or b32' % (arch,))
            continue
        unknown = [s for s in time_calls if s not in tables[arch]]
        if unknown:
            problems.append('audit_time_syscalls: unknown syscall %s for arch %s' % (', '.join(unknown), arch))
            continue
        if time_calls:
            lines.append('-a always,exit -F arch=%s %s -k %s'
                         % (arch, ' '.join('-S %s' % s for s in time_calls), time_key))

    priv_key = settings.get('audit_privileged_key', 'privileged')
    auid_min = settings.get('audit_privileged_auid_min', 1000)
    if _key_problem(priv_key):
        problems.append('audit_privileged_key: %s' % _key_problem(priv_key))
    if isinstance(auid_min, bool) or not re.match(r'^[0-9]{1,10}$', to_text(auid_min)):
        problems.append('audit_privileged_auid_min must be a non-negative integer, not %r' % (auid_min,))
    for path in sorted(set(to_text(p) for p in (privileged or []))):
        problem = _path_problem(path)
        if problem:
            problems.append('audit_privileged (a setuid/setgid binary found on the host): %s' % problem)
            continue
        lines.append('-a always,exit -F path=%s -F perm=x -F auid>=%s -F auid!=unset -k %s'
                     % (path, to_text(auid_min), priv_key))

    own = list(lines)
    extra = _as_list(settings.get('audit_rules_extra'), 'audit_rules_extra', problems)
    problems.extend(audit_rule_problems(extra, 'audit_rules_extra', syscalls))
    lines.extend(to_text(e).strip() for e in extra if isinstance(e, string_types)
                 and to_text(e).strip() and not to_text(e).strip().startswith('#'))
    lines.append('-e %s' % ('2' if immutable is True else '1'))
    # The role's own lines pass the same check (a bug shows here, not in auditctl); when a variable
    # is already refused above, its line would only repeat the refusal.
    if not problems:
        problems.extend(audit_rule_problems(own + lines[-1:], 'the role\'s own rules', syscalls, control=True))
    return {'lines': lines, 'problems': problems, 'skipped': skipped}


def audit_rules_order_problems(lines):
    """Problems of the order of a rules file: -D first, then -b and -f, rules, -e last."""
    rules = [line.strip() for line in lines if line.strip() and not line.strip().startswith('#')]
    problems = []
    if not rules or rules[0] != '-D':
        problems.append('the first rule is not -D')
    if len(rules) < 2 or not rules[1].startswith('-b '):
        problems.append('the second rule is not -b')
    if len(rules) < 3 or not rules[2].startswith('-f '):
        problems.append('the third rule is not -f')
    if not rules or rules[-1] not in ('-e 1', '-e 2'):
        problems.append('the last rule is not -e 1 or -e 2')
    if [r for r in rules[1:] if r.split()[0] == '-D' and len(r.split()) == 1] \
            or len([r for r in rules if r.startswith('-e ')]) != 1:
        problems.append('-D or -e appear more than once')
    return problems


class FilterModule(object):
    """Audit filters."""

    def filters(self):
        return {
            'audit_rules_plan': audit_rules_plan,
            'audit_rule_problems': audit_rule_problems,
            'audit_rules_order_problems': audit_rules_order_problems,
        }
