# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""audit_rules_plan, audit_rule_problems, audit_rules_order_problems: what reaches the rules file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.flash.connect.plugins.filter.audit import (
    FilterModule, audit_rule_problems, audit_rules_order_problems, audit_rules_plan)

PRIVILEGED = '-a always,exit -F path=%s -F perm=x -F auid>=1000 -F auid!=unset -k privileged'


def settings(**over):
    base = {
        'audit_buffer': 8192, 'audit_failure_mode': 1, 'audit_immutable': False,
        'audit_watches': [
            {'var': 'audit_identity_files', 'key': 'identity', 'perms': 'wa', 'paths': ['/etc/passwd', '/etc/security/opasswd']},
            {'var': 'audit_docker_paths', 'key': 'docker', 'perms': 'rwxa', 'when_present': True,
             'paths': ['/var/run/docker.sock', '/usr/bin/dockerd']},
        ],
        'audit_time_syscalls': ['adjtimex', 'settimeofday', 'clock_settime'], 'audit_time_arches': ['b64', 'b32'],
        'audit_time_key': 'time-change', 'audit_privileged_key': 'privileged', 'audit_privileged_auid_min': 1000,
        'audit_rules_extra': [],
    }
    base.update(over)
    return base


def test_the_file_is_in_auditctl_order():
    plan = audit_rules_plan(settings(audit_rules_extra=['-w /opt/app -p wa -k app']),
                            present=['/etc', '/etc/passwd', '/etc/security', '/var/run/docker.sock'],
                            privileged=['/usr/bin/su', '/usr/bin/passwd'])
    assert plan['problems'] == []
    assert plan['lines'] == [
        '-D', '-b 8192', '-f 1',
        '-w /etc/passwd -p wa -k identity',
        '-w /etc/security/opasswd -p wa -k identity',
        '-w /var/run/docker.sock -p rwxa -k docker',
        '-a always,exit -F arch=b64 -S adjtimex -S settimeofday -S clock_settime -k time-change',
        '-a always,exit -F arch=b32 -S adjtimex -S settimeofday -S clock_settime -k time-change',
        PRIVILEGED % '/usr/bin/passwd', PRIVILEGED % '/usr/bin/su',
        '-w /opt/app -p wa -k app',
        '-e 1',
    ]
    assert plan['skipped'] == ['/usr/bin/dockerd']
    assert audit_rules_order_problems(plan['lines']) == []
    assert audit_rule_problems(plan['lines'], 'file', control=True) == []


def test_immutable_ends_with_e_2():
    assert audit_rules_plan(settings(audit_immutable=True))['lines'][-1] == '-e 2'


def test_a_watch_whose_directory_is_missing_is_left_out():
    # The kernel refuses a watch whose directory does not exist; a list marked when_present needs the path itself.
    plan = audit_rules_plan(settings(), present=['/etc'])
    assert '-w /etc/passwd -p wa -k identity' in plan['lines']
    assert not [line for line in plan['lines'] if 'opasswd' in line or 'docker' in line]


@pytest.mark.parametrize('over, expected', [
    ({'audit_buffer': 0}, 'audit_buffer must be a positive integer'),
    ({'audit_buffer': 'lots'}, 'audit_buffer must be a positive integer'),
    ({'audit_buffer': True}, 'audit_buffer must be a positive integer'),
    ({'audit_failure_mode': 3}, 'audit_failure_mode must be 0'),
    ({'audit_immutable': 'yes'}, 'audit_immutable must be a boolean'),
    ({'audit_time_syscalls': ['settimeofdays']}, 'audit_time_syscalls: unknown syscall settimeofdays for arch b64'),
    ({'audit_time_syscalls': ['stime']}, 'audit_time_syscalls: unknown syscall stime for arch b64'),
    ({'audit_time_arches': ['b16']}, "audit_time_arches: 'b16' is not b64 or b32"),
    ({'audit_privileged_auid_min': -1}, 'audit_privileged_auid_min must be a non-negative integer'),
    ({'audit_watches': [{'var': 'audit_ssh_paths', 'key': 'sshd', 'paths': ['etc/ssh']}]}, "audit_ssh_paths: the path 'etc/ssh' is not absolute"),
    ({'audit_watches': [{'var': 'audit_ssh_paths', 'key': 'sshd', 'paths': ['/etc/my ssh']}]}, 'audit_ssh_paths: the path'),
    ({'audit_watches': [{'var': 'audit_ssh_paths', 'key': 'sshd', 'paths': ['/etc/ssh\n-e 0']}]}, 'holds whitespace'),
    ({'audit_watches': [{'var': 'audit_ssh_paths', 'key': 'sshd', 'paths': ['/etc/../ssh']}]}, 'is not normalised'),
    ({'audit_watches': [{'var': 'audit_ssh_paths', 'key': 'ssh d', 'paths': ['/etc/ssh']}]}, "audit_ssh_paths: the key 'ssh d'"),
    ({'audit_watches': [{'var': 'audit_ssh_paths', 'key': 'sshd', 'perms': 'wz', 'paths': ['/etc/ssh']}]}, 'audit_ssh_paths: the permissions'),
    ({'audit_watches': 'nope'}, 'audit_watches must be a list'),
    ({'audit_rules_extra': '-w /etc -k x'}, 'audit_rules_extra must be a list'),
])
def test_bad_settings_are_refused_by_name(over, expected):
    problems = audit_rules_plan(settings(**over))['problems']
    assert [p for p in problems if expected in p], problems


@pytest.mark.parametrize('line', [
    '-w /etc/hosts -p wa -k hosts',
    '-w /etc/hosts',
    '-W /etc/hosts -p wa -k hosts',
    '-a always,exit -F arch=b64 -S mount -S umount2 -k mounts',
    '-a exit,always -F arch=b32 -S stime,settimeofday -k time',
    '-a always,exit -F arch=b64 -S 165 -k by-number',
    '-a always,exit -F path=/usr/bin/su -F perm=x -F auid>=1000 -F auid!=unset -k privileged',
    '-a always,exit -F auid>=1000 -F auid!=4294967295 -F euid=0 -k root-by-user',
    '-a always,exit -F arch=b64 -S openat -F exit=-EACCES -F auid>=1000 -k access',
    '-a always,exit -F dir=/etc/flash-connect -F perm=wa -F uid=root -k secrets',
    '-a never,exclude -F msgtype=CWD',
    '-a always,exit -F arch=b64 -C auid!=uid -S execve -k su-exec',
    '-a always,exit -F arch=b64 -S all -F key=all',
    '-A always,exit -F exe=/usr/bin/curl -k net',
    '-a always,user -F subj_type=sshd_t',
    '--loginuid-immutable',
    '# a comment',
    '',
])
def test_sound_lines_pass(line):
    assert audit_rule_problems([line]) == []


@pytest.mark.parametrize('line, expected', [
    ('-w etc/hosts -p wa -k hosts', "the path 'etc/hosts' is not absolute"),
    ('-w /etc/my hosts -p wa -k hosts', "unexpected 'hosts'"),
    ('-w /etc/hosts -p wz -k hosts', "the permissions 'wz' are not drawn from r, w, x, a"),
    ('-w /etc/hosts -p waa -k hosts', 'the permissions'),
    ('-w /etc/hosts -p wa -k hosts!', "the key 'hosts!'"),
    ('-w /etc/hosts -p wa -k ' + 'k' * 32, 'not 1-31 letters'),
    ('-w /etc/hosts -p wa -w /etc/passwd', '-w is given twice'),
    ('-w /etc/hosts -p', '-p has no value'),
    ('-a always,exit -F arch=b64 -S mountz -k mounts', "unknown syscall 'mountz' for arch b64"),
    ('-a always,exit -S stime -k t', "unknown syscall 'stime' for arch b64 (no -F arch given)"),
    ('-a always,exit -F arch=b128 -S open', "unknown arch 'b128'"),
    ('-a always,exits -F arch=b64 -S open', 'is not ACTION,LIST'),
    ('-a sometimes,exit -S open', 'is not ACTION,LIST'),
    ('-a always,entry -S open', 'is not ACTION,LIST'),
    ('-a always,task -S open', '-S applies to the exit list only'),
    ('-S open -k x', 'is not a rule auditctl -R reads'),
    ('-a always,exit -F uidd=0', "unknown field 'uidd'"),
    ('-a always,exit -F auid>==1000', 'unknown operator'),
    ('-a always,exit -F auid=', 'has no value'),
    ('-a always,exit -F auid=12ab!', 'takes a number, unset or a user/group name'),
    ('-a always,exit -F pid=abc', 'takes a number'),
    ('-a always,exit -F perm=q', 'perm must be'),
    ('-a always,exit -F path=relative', 'is not absolute'),
    ('-a always,exit -F path>/etc', 'takes = or != only'),
    ('-a always,exit -F success=2', 'success must be'),
    ('-a always,exit -F filetype=pipe', "unknown filetype 'pipe'"),
    ('-a always,exit -F key=bad!key', "the key 'bad!key'"),
    ('-a always,exit -C auid<uid', '-C'),
    ('-a always,exit -a never,exit', 'exactly one -a/-A'),
    ('-a always,exit -F path=/x"y', 'knows no quoting'),
    ("-w /etc/x'y", 'knows no quoting'),
    ('-w /etc/hosts\n-e 0', 'may not hold a newline'),
    ('-D', '-D is set by the role'),
    ('-e 2', '-e is set by the role'),
    ('-b 1', '-b is set by the role'),
    ('-f 2', '-f is set by the role'),
    ('-r abc', '-r takes a positive integer'),
    ('auditctl -w /etc', 'is not a rule'),
])
def test_bad_lines_are_refused_with_the_variable_and_the_line(line, expected):
    problems = audit_rule_problems(['-w /etc/passwd -p wa -k identity', line], 'audit_rules_extra')
    assert problems and all(p.startswith("audit_rules_extra: line 2 %r: " % line) for p in problems), problems
    assert [p for p in problems if expected in p], problems


def test_control_lines_are_checked_when_allowed():
    assert audit_rule_problems(['-D', '-b 8192', '-f 2', '-e 2', '-D -k identity'], control=True) == []
    assert 'takes a positive integer' in audit_rule_problems(['-b 0'], control=True)[0]
    assert 'takes 0, 1 or 2' in audit_rule_problems(['-e 3'], control=True)[0]


def test_the_hosts_syscall_table_replaces_the_static_one():
    dump = 'Using x86_64 syscall table:\n0\tread\n1\twrite\n500\tflash_new_call\n'
    assert audit_rule_problems(['-a always,exit -F arch=b64 -S flash_new_call'], syscalls={'b64': dump}) == []
    assert audit_rule_problems(['-a always,exit -F arch=b64 -S flash_new_call']) != []
    # adjtimex is in the static table but not in this (short) host table
    assert 'unknown syscall' in audit_rule_problems(['-a always,exit -F arch=b64 -S adjtimex'], syscalls={'b64': dump})[0]
    assert audit_rule_problems(['-a always,exit -F arch=b32 -S stime'], syscalls={'b64': dump}) == []


@pytest.mark.parametrize('lines, expected', [
    (['-b 1', '-D', '-f 1', '-e 1'], 'the first rule is not -D'),
    (['-D', '-f 1', '-b 1', '-e 1'], 'the second rule is not -b'),
    (['-D', '-b 1', '-w /etc -k x', '-e 1'], 'the third rule is not -f'),
    (['-D', '-b 1', '-f 1', '-e 1', '-w /etc -k x'], 'the last rule is not -e'),
    (['-D', '-b 1', '-f 1', '-e 1', '-D', '-e 1'], 'more than once'),
])
def test_order_problems(lines, expected):
    assert [p for p in audit_rules_order_problems(lines) if expected in p]


def test_settings_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError):
        audit_rules_plan(['-w /etc'])


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'audit_rules_plan', 'audit_rule_problems', 'audit_rules_order_problems'}
