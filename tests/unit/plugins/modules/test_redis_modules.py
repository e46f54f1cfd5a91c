# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""redis_config and redis_sentinel driven through main() against a loopback RESP server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.module_utils import _redis
from ansible_collections.flash.connect.plugins.modules import redis_config, redis_sentinel
from ansible_collections.flash.connect.tests.unit.plugins.loopback import Simple, closed_port, serve_resp
from ansible_collections.flash.connect.tests.unit.plugins.modules.harness import patch_exits, run_main

ADMIN_PASSWORD = 'Test-Only-Admin-Pw-81'
MASTERAUTH_OLD = 'Test-Only-Masterauth-Old-82'
MASTERAUTH_NEW = 'Test-Only-Masterauth-New-83'


@pytest.fixture(autouse=True)
def exits(monkeypatch):
    patch_exits(monkeypatch)


run = run_main


class FakeConfig(object):
    """CONFIG GET/SET/REWRITE with state, as a Redis 7.0 instance answers them."""

    def __init__(self, settings):
        self.settings = dict(settings)
        self.rewrites = 0

    def __call__(self, command):
        sub = command[1].upper()
        if sub == 'GET':
            return [item for k in command[2:] if k in self.settings for item in (k, self.settings[k])]
        if sub == 'SET':
            pairs = command[2:]
            for k in pairs[0::2]:
                if k not in self.settings:
                    return resp.RespError("ERR Unknown option or number of arguments for CONFIG SET - '%s'" % k)
            self.settings.update(zip(pairs[0::2], pairs[1::2]))
            return Simple('OK')
        if sub == 'REWRITE':
            self.rewrites += 1
            return Simple('OK')
        return resp.RespError('ERR unknown subcommand')


@pytest.fixture
def instance(redis_server):
    redis_server.username = 'flash-admin'
    redis_server.password = ADMIN_PASSWORD
    redis_server.config = FakeConfig({'maxmemory': '0', 'appendonly': 'no', 'masterauth': MASTERAUTH_OLD})
    redis_server.replies['CONFIG'] = redis_server.config
    redis_server.replies['PING'] = Simple('PONG')
    return redis_server


def config_args(server, settings, **extra):
    args = dict(login_port=server.port, login_user='flash-admin', login_password=ADMIN_PASSWORD, settings=settings, wait=0)
    args.update(extra)
    return args


def writes(server):
    return [c for c in server.commands if c[0] == 'CONFIG' and c[1] in ('SET', 'REWRITE')]


def test_config_sets_only_what_differs_then_rewrites(instance):
    outcome, result = run(redis_config, config_args(instance, {'maxmemory': '0', 'appendonly': 'yes'}))
    assert outcome == 'exit' and result['changed'] is True
    assert result['changed_settings'] == ['appendonly']
    assert writes(instance) == [['CONFIG', 'SET', 'appendonly', 'yes'], ['CONFIG', 'REWRITE']]
    assert instance.config.settings['appendonly'] == 'yes'


def test_config_second_run_changes_nothing(instance):
    run(redis_config, config_args(instance, {'appendonly': 'yes'}))
    del instance.commands[:]
    outcome, result = run(redis_config, config_args(instance, {'appendonly': 'yes'}))
    assert outcome == 'exit' and result['changed'] is False
    assert writes(instance) == []


def test_config_check_mode_reads_but_never_writes(instance):
    outcome, result = run(redis_config, config_args(instance, {'appendonly': 'yes'}, _ansible_check_mode=True, _ansible_diff=True))
    assert outcome == 'exit' and result['changed'] is True
    assert result['diff'] == {'before': {'appendonly': 'no'}, 'after': {'appendonly': 'yes'}}
    assert writes(instance) == []
    assert instance.config.settings['appendonly'] == 'no'
    assert ['CONFIG', 'GET', 'appendonly'] in instance.commands


def test_config_diff_and_result_never_hold_a_secret(instance):
    outcome, result = run(redis_config, config_args(instance, {'masterauth': MASTERAUTH_NEW}, _ansible_diff=True))
    assert outcome == 'exit' and result['changed_settings'] == ['masterauth']
    text = json.dumps(result)
    assert MASTERAUTH_OLD not in text and MASTERAUTH_NEW not in text
    assert result['diff']['before']['masterauth'] != result['diff']['after']['masterauth']
    assert instance.config.settings['masterauth'] == MASTERAUTH_NEW


def test_config_no_rewrite_when_told(instance):
    run(redis_config, config_args(instance, {'appendonly': 'yes'}, rewrite=False))
    assert instance.config.rewrites == 0


def test_config_unknown_setting_fails_by_name(instance):
    outcome, result = run(redis_config, config_args(instance, {'maxmemroy': '1'}))
    assert outcome == 'fail' and 'maxmemroy' in result['msg']
    assert writes(instance) == []


def test_config_wrong_password_fails_without_retry(instance):
    outcome, result = run(redis_config, dict(config_args(instance, {'appendonly': 'yes'}), login_password='Test-Only-Wrong-Pw-84', wait=30))
    assert outcome == 'fail' and 'WRONGPASS' in result['msg']
    assert 'Test-Only-Wrong-Pw-84' not in json.dumps(result)
    assert len([c for c in instance.commands if c[0] == 'AUTH']) == 1


def test_config_unreachable_fails_naming_the_address():
    port = closed_port()
    outcome, result = run(redis_config, dict(login_port=port, settings={'appendonly': 'yes'}, wait=0))
    assert outcome == 'fail' and ('127.0.0.1:%d' % port) in result['msg']


def test_connect_retries_while_loading(instance):
    answers = [resp.RespError('LOADING Redis is loading the dataset in memory'), resp.RespError('LOADING again'), Simple('PONG')]
    instance.replies['PING'] = lambda command: answers.pop(0)
    sleeps = []
    now = [0.0]

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds
    conn = _redis.connect(dict(login_host='127.0.0.1', login_port=instance.port, login_user='flash-admin',
                               login_password=ADMIN_PASSWORD, wait=10), sleep=sleep, clock=lambda: now[0])
    conn.close()
    assert len(sleeps) == 2 and answers == []


# -------------------------------------------------------------------------------- Sentinel

SENTINEL_PASSWORD = 'Test-Only-Sentinel-Pw-85'


class FakeSentinel(object):
    def __init__(self):
        self.master = {'name': 'flash-session', 'ip': 'redis-1', 'port': '6379', 'flags': 'master', 'quorum': '2',
                       'down-after-milliseconds': '30000', 'failover-timeout': '60000', 'parallel-syncs': '1',
                       'num-other-sentinels': '2'}
        self.replicas = [{'name': 'redis-2:6379', 'flags': 'slave', 'master-link-status': 'ok'},
                         {'name': 'redis-3:6379', 'flags': 'slave', 'master-link-status': 'ok'}]
        self.ckquorum = Simple('OK 3 usable Sentinels. Quorum and failover authorization can be reached')

    def install(self, server):
        server.password = SENTINEL_PASSWORD
        server.replies['PING'] = Simple('PONG')
        server.replies['SENTINEL MASTER'] = lambda c: dict(self.master) if c[2] == 'flash-session' else resp.RespError(
            'ERR No such master with that name')
        server.replies['SENTINEL REPLICAS'] = lambda c: [dict(r) for r in self.replicas]
        server.replies['SENTINEL CKQUORUM'] = lambda c: self.ckquorum
        server.replies['SENTINEL SET'] = self.set

    def set(self, command):
        pairs = command[3:]
        self.master.update(zip(pairs[0::2], pairs[1::2]))
        return Simple('OK')


@pytest.fixture
def sentinel(redis_server):
    fake = FakeSentinel()
    fake.install(redis_server)
    redis_server.fake = fake
    return redis_server


def sentinel_args(server, **extra):
    args = dict(login_port=server.port, login_password=SENTINEL_PASSWORD, master_name='flash-session', wait=0)
    args.update(extra)
    return args


def sets(server):
    return [c for c in server.commands if c[:2] == ['SENTINEL', 'SET']]


def test_sentinel_sets_only_what_differs(sentinel):
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, params={'quorum': 2, 'down-after-milliseconds': 5000}))
    assert outcome == 'exit' and result['changed'] is True and result['changed_params'] == ['down-after-milliseconds']
    assert sets(sentinel) == [['SENTINEL', 'SET', 'flash-session', 'down-after-milliseconds', '5000']]
    del sentinel.commands[:]
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, params={'quorum': 2, 'down-after-milliseconds': 5000}))
    assert result['changed'] is False and sets(sentinel) == []


def test_sentinel_check_mode_reports_with_diff_and_sets_nothing(sentinel):
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, params={'down-after-milliseconds': '5000'},
                                                        _ansible_check_mode=True, _ansible_diff=True))
    assert outcome == 'exit' and result['changed'] is True
    assert result['diff'] == {'before': {'down-after-milliseconds': '30000'}, 'after': {'down-after-milliseconds': '5000'}}
    assert sets(sentinel) == []


def test_sentinel_verify_passes_on_a_healthy_view(sentinel):
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, verify=True, expect_replicas=2, expect_sentinels=3))
    assert outcome == 'exit', result
    assert result['view'] == {'master': 'redis-1:6379', 'flags': 'master', 'replicas': 2, 'sentinels': 3,
                              'ckquorum': 'OK 3 usable Sentinels. Quorum and failover authorization can be reached'}


@pytest.mark.parametrize('breakage, expected', [
    (lambda f: f.master.update(flags='master,s_down'), 'flagged s_down'),
    (lambda f: f.master.update(flags='master,s_down,o_down'), 'flagged o_down'),
    (lambda f: f.replicas[1].update(flags='slave,s_down'), 'knows 1 healthy replica(s), expected 2'),
    (lambda f: f.replicas[1].update({'master-link-status': 'err'}), 'knows 1 healthy replica(s), expected 2'),
    (lambda f: f.master.update({'num-other-sentinels': '1'}), 'knows 2 Sentinel(s) including itself, expected 3'),
    (lambda f: setattr(f, 'ckquorum', resp.RespError('NOQUORUM 1 usable Sentinels')), 'CKQUORUM says: NOQUORUM'),
])
def test_sentinel_verify_fails_naming_the_master(sentinel, breakage, expected):
    breakage(sentinel.fake)
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, verify=True, expect_replicas=2, expect_sentinels=3, verify_timeout=0))
    assert outcome == 'fail'
    assert 'master flash-session' in result['msg'] and expected in result['msg']


def test_sentinel_unknown_master_fails_by_name(sentinel):
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, master_name='flash-nope', params={'quorum': 2}))
    assert outcome == 'fail' and 'flash-nope' in result['msg'] and 'No such master' in result['msg']


# -------------------------------------------------------------------------------- quoting

@pytest.mark.parametrize('value, expected', [
    ('plain', '"plain"'),
    ('with space', '"with space"'),
    ('quo"te', '"quo\\"te"'),
    ('back\\slash', '"back\\\\slash"'),
    ('line\nbreak\ttab\r', '"line\\nbreak\\ttab\\r"'),
    ('bell\a\b', '"bell\\a\\b"'),
    ('\x01\x7f', '"\\x01\\x7f"'),
    ('caf\u00e9', '"caf\\xc3\\xa9"'),
])
def test_sds_repr_matches_redis(value, expected):
    assert _redis.sds_repr(value) == expected


# -------------------------------------------------------------------------------- ACL

from ansible_collections.flash.connect.plugins.modules import redis_acl  # noqa: E402

APP_OLD = 'Test-Only-App-Old-86'
APP_NEW = 'Test-Only-App-New-87'


def sha(pw):
    import hashlib
    return hashlib.sha256(pw.encode()).hexdigest()


class FakeAcl(object):
    """ACL SETUSER/GETUSER/DELUSER/USERS/SAVE/LOAD of one instance (rules kept in the order given)."""

    def __init__(self):
        self.users = {'default': self._new(), 'flash-admin': self._new()}
        self.users['flash-admin'].update(on=True, passwords=[sha(ADMIN_PASSWORD)], keys=['~*'], channels=['&*'], commands=['+@all'])
        self.saves = 0

    @staticmethod
    def _new():
        return dict(on=False, passwords=[], keys=[], channels=[], commands=['-@all'])

    def __call__(self, command):
        sub = command[1].upper()
        if sub == 'SETUSER':
            user = dict(self.users.get(command[2]) or self._new())
            user = dict((k, list(v) if isinstance(v, list) else v) for k, v in user.items())
            for op in command[3:]:
                if op == 'reset':
                    user = self._new()
                    user['commands'] = []
                elif op in ('on', 'off'):
                    user['on'] = op == 'on'
                elif op.startswith('#'):
                    user['passwords'].append(op[1:])
                elif op.startswith('~'):
                    user['keys'].append(op)
                elif op.startswith('&'):
                    user['channels'].append(op)
                elif op[:1] in '+-':
                    user['commands'].append(op)
                else:
                    return resp.RespError("ERR Error in ACL SETUSER modifier '%s': Syntax error" % op)
            self.users[command[2]] = user
            return Simple('OK')
        if sub == 'GETUSER':
            user = self.users.get(command[2])
            if user is None:
                return None
            return ['flags', ['on' if user['on'] else 'off'], 'passwords', list(user['passwords']),
                    'commands', ' '.join(user['commands'] or ['-@all']), 'keys', ' '.join(user['keys']),
                    'channels', ' '.join(user['channels']), 'selectors', []]
        if sub == 'DELUSER':
            for name in command[2:]:
                self.users.pop(name, None)
            return len(command) - 2
        if sub == 'USERS':
            return sorted(self.users)
        if sub == 'SAVE':
            self.saves += 1
            return Simple('OK')
        return resp.RespError('ERR unexpected ACL %s in this test' % sub)


@pytest.fixture
def acl_instance(redis_server):
    redis_server.username = 'flash-admin'
    redis_server.password = ADMIN_PASSWORD
    redis_server.acl = FakeAcl()
    redis_server.replies['ACL'] = redis_server.acl
    redis_server.replies['PING'] = Simple('PONG')
    return redis_server


def acl_users(app_passwords):
    return [dict(name='default', passwords=app_passwords, rules='~* &* +@all -@dangerous'),
            dict(name='flash-admin', passwords=[ADMIN_PASSWORD], rules='~* &* +@all')]


def acl_args(server, users, **extra):
    args = dict(login_port=server.port, login_user='flash-admin', login_password=ADMIN_PASSWORD, users=users, wait=0)
    args.update(extra)
    return args


def acl_writes(server):
    """Commands that change a real user (the scratch user used for comparing is left out)."""
    return [c for c in server.commands if c[0] == 'ACL' and c[1] in ('SETUSER', 'DELUSER', 'SAVE', 'LOAD')
            and not (len(c) > 2 and c[2].startswith('flash-acl-compare-'))]


def test_acl_sets_only_the_users_that_differ_then_saves(acl_instance):
    outcome, result = run(redis_acl, acl_args(acl_instance, acl_users([APP_OLD, APP_NEW])))
    assert outcome == 'exit', result
    assert result['changed_users'] == ['default'] and result['saved'] is True
    writes = acl_writes(acl_instance)
    assert [c[:3] for c in writes] == [['ACL', 'SETUSER', 'default'], ['ACL', 'SAVE']]
    assert sorted(acl_instance.acl.users['default']['passwords']) == sorted([sha(APP_OLD), sha(APP_NEW)])
    assert 'flash-acl-compare-' not in ' '.join(acl_instance.acl.users)


def test_acl_rotation_touches_only_the_rotated_user_and_never_loads(acl_instance):
    run(redis_acl, acl_args(acl_instance, acl_users([APP_NEW, APP_OLD])))
    del acl_instance.commands[:]
    outcome, result = run(redis_acl, acl_args(acl_instance, acl_users([APP_NEW])))
    assert outcome == 'exit' and result['changed_users'] == ['default']
    assert acl_instance.acl.users['default']['passwords'] == [sha(APP_NEW)]
    assert not [c for c in acl_instance.commands if c[:2] == ['ACL', 'LOAD']]
    assert not [c for c in acl_writes(acl_instance) if c[2:3] == ['flash-admin']]


def test_acl_second_run_changes_nothing(acl_instance):
    run(redis_acl, acl_args(acl_instance, acl_users([APP_NEW])))
    del acl_instance.commands[:]
    outcome, result = run(redis_acl, acl_args(acl_instance, acl_users([APP_NEW])))
    assert outcome == 'exit' and result['changed'] is False and acl_writes(acl_instance) == []


def test_acl_check_mode_writes_nothing_and_diff_holds_no_secret(acl_instance):
    outcome, result = run(redis_acl, acl_args(acl_instance, acl_users([APP_OLD, APP_NEW]), _ansible_check_mode=True, _ansible_diff=True))
    assert outcome == 'exit' and result['changed'] is True
    assert acl_writes(acl_instance) == []
    assert acl_instance.acl.users['default']['on'] is False
    text = json.dumps(result)
    for secret in (APP_OLD, APP_NEW, sha(APP_OLD), sha(APP_NEW), ADMIN_PASSWORD):
        assert secret not in text
    assert result['diff']['before']['default']['passwords'] == 0 and result['diff']['after']['default']['passwords'] == 2


def test_acl_purge_deletes_unlisted_users_but_never_default_or_the_login(acl_instance):
    acl_instance.acl.users['flash-app'] = dict(on=True, passwords=[sha(APP_OLD)], keys=['~*'], channels=[], commands=['+@all'])
    outcome, result = run(redis_acl, acl_args(acl_instance, [dict(name='default', passwords=[APP_NEW], rules='~*')], purge=True))
    assert outcome == 'exit' and result['deleted_users'] == ['flash-app']
    assert sorted(acl_instance.acl.users) == ['default', 'flash-admin']


def test_acl_bad_rule_fails_naming_the_user(acl_instance):
    outcome, result = run(redis_acl, acl_args(acl_instance, [dict(name='default', passwords=[APP_NEW], rules='~* nonsense')]))
    assert outcome == 'fail' and 'user default' in result['msg'] and 'nonsense' in result['msg']
    assert acl_writes(acl_instance) == []


@pytest.mark.parametrize('value', ['plain', 'with space', 'quo"te', "single'quote", 'back\\slash', 'a\nb\tc', '\x01\x7f', 'caf\u00e9', ''])
def test_sds_split_args_reads_back_what_sds_repr_writes(value):
    assert _redis.sds_split_args('sentinel auth-pass flash-session %s' % _redis.sds_repr(value)) == [
        'sentinel', 'auth-pass', 'flash-session', value]


@pytest.mark.parametrize('line', ['a "unterminated', 'a "x"y', "a 'x'y"])
def test_sds_split_args_refuses_what_redis_refuses(line):
    assert _redis.sds_split_args(line) is None


SENTINEL_AUTH_OLD = 'Test-Only-Sentinel-Auth-Old 88'
SENTINEL_AUTH_NEW = 'Test-Only-Sentinel-Auth-"New" 89'


def sentinel_file(tmp_path, password):
    path = tmp_path / 'sentinel.conf'
    path.write_text('sentinel monitor flash-session redis-1 6379 2\n'
                    'sentinel auth-user flash-session flash-sentinel\n'
                    'sentinel auth-pass flash-session %s\n' % _redis.sds_repr(password))
    return str(path)


def test_sentinel_auth_pass_set_only_when_the_file_differs(sentinel, tmp_path):
    conf = sentinel_file(tmp_path, SENTINEL_AUTH_OLD)
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, auth_user='flash-sentinel', auth_pass=SENTINEL_AUTH_NEW,
                                                        config_file=conf, _ansible_diff=True))
    assert outcome == 'exit' and result['changed_params'] == ['auth-pass']
    assert sets(sentinel) == [['SENTINEL', 'SET', 'flash-session', 'auth-pass', SENTINEL_AUTH_NEW]]
    text = json.dumps(result)
    assert SENTINEL_AUTH_OLD not in text and SENTINEL_AUTH_NEW not in text
    del sentinel.commands[:]
    conf = sentinel_file(tmp_path, SENTINEL_AUTH_NEW)
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, auth_user='flash-sentinel', auth_pass=SENTINEL_AUTH_NEW, config_file=conf))
    assert result['changed'] is False and sets(sentinel) == []


def test_sentinel_auth_pass_check_mode_sets_nothing(sentinel, tmp_path):
    conf = sentinel_file(tmp_path, SENTINEL_AUTH_OLD)
    outcome, result = run(redis_sentinel, sentinel_args(sentinel, auth_pass=SENTINEL_AUTH_NEW, config_file=conf, _ansible_check_mode=True))
    assert outcome == 'exit' and result['changed'] is True and sets(sentinel) == []


# A Sentinel whose own file holds a password the instances no longer accept still shows a healthy
# view while its old connections last (issue 10.1: the auth-pass push was skipped, the converge
# passed); verify_login logs in as the Sentinel would at its next reconnect.
SENTINEL_USER_PASSWORD = 'Test-Only-Sentinel-User-Pw-86'


def login_case(sentinel, tmp_path, held_password):
    with serve_resp() as master, serve_resp() as replica:
        for server in (master, replica):
            server.username, server.password = 'flash-sentinel', SENTINEL_USER_PASSWORD
            server.replies['PING'] = Simple('PONG')
        sentinel.fake.master.update({'ip': '127.0.0.1', 'port': str(master.port)})
        sentinel.fake.replicas = [
            {'name': 'r1', 'ip': '127.0.0.1', 'port': str(replica.port), 'flags': 'slave', 'master-link-status': 'ok'},
            {'name': 'r2', 'ip': '127.0.0.1', 'port': str(closed_port()), 'flags': 'slave', 'master-link-status': 'ok'}]
        conf = tmp_path / 'sentinel.conf'
        conf.write_text('sentinel monitor flash-session 127.0.0.1 %d 2\nsentinel auth-user flash-session flash-sentinel\n'
                        'sentinel auth-pass flash-session %s\n' % (master.port, _redis.sds_repr(held_password)))
        args = sentinel_args(sentinel, verify=True, verify_login=True, config_file=str(conf),
                             expect_replicas=2, expect_sentinels=3, verify_timeout=0)
        outcome, result = run(redis_sentinel, args)
        return outcome, result, master, replica


def test_sentinel_verify_login_passes_when_the_held_password_opens_every_instance(sentinel, tmp_path):
    outcome, result, master, replica = login_case(sentinel, tmp_path, SENTINEL_USER_PASSWORD)
    assert outcome == 'exit', result
    assert ['AUTH', 'flash-sentinel', SENTINEL_USER_PASSWORD] in master.commands
    assert ['AUTH', 'flash-sentinel', SENTINEL_USER_PASSWORD] in replica.commands


def test_sentinel_verify_login_fails_naming_the_instance_that_refuses_the_held_password(sentinel, tmp_path):
    outcome, result, master, replica = login_case(sentinel, tmp_path, 'Test-Only-Old-Sentinel-Pw "87"')
    assert outcome == 'fail'
    assert 'master flash-session' in result['msg']
    assert '127.0.0.1:%d refuses' % master.port in result['msg'] and '127.0.0.1:%d refuses' % replica.port in result['msg']
    assert 'WRONGPASS' in result['msg'] and 'next reconnect' in result['msg']
    assert SENTINEL_USER_PASSWORD not in json.dumps(result) and 'Old-Sentinel-Pw' not in json.dumps(result)
