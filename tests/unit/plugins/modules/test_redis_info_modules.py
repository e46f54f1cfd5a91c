# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""redis_info, redis_failover and redis_bgsave driven through main() against a loopback RESP server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

import pytest

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp
from ansible_collections.flash.connect.plugins.modules import redis_bgsave, redis_failover, redis_info
from ansible_collections.flash.connect.tests.unit.plugins.loopback import FakeClock, Simple, closed_port
from ansible_collections.flash.connect.tests.unit.plugins.modules.harness import patch_exits, run_main

ADMIN_PASSWORD = 'Test-Only-Admin-Pw-91'
SENTINEL_PASSWORD = 'Test-Only-Sentinel-Pw-92'
WRONG_PASSWORD = 'Test-Only-Wrong-Pw-93'


@pytest.fixture(autouse=True)
def exits(monkeypatch):
    patch_exits(monkeypatch)


@pytest.fixture
def clock(monkeypatch):
    """The modules' clock, moved only by their own sleeps."""
    fake = FakeClock()

    class FakeTime(object):
        time = staticmethod(fake)
        sleep = staticmethod(fake.sleep)
    for module in (redis_failover, redis_bgsave):
        monkeypatch.setattr(module, 'time', FakeTime)
    return fake


run = run_main


def auths(server):
    return [c for c in server.commands if c[0] == 'AUTH']


def info_text(fields):
    return '# Section\r\n' + ''.join('%s:%s\r\n' % (k, v) for k, v in fields.items())


# -------------------------------------------------------------------------------- redis_info

@pytest.fixture
def replica(redis_server):
    redis_server.username = 'flash-admin'
    redis_server.password = ADMIN_PASSWORD
    redis_server.replies['PING'] = Simple('PONG')
    redis_server.replies['ROLE'] = ['slave', '10.0.0.11', 6379, 'connected', 4242]
    redis_server.replies['INFO'] = lambda c: info_text(
        {'role': 'slave', 'master_link_status': 'up', 'loading': '0', 'sections': ','.join(c[1:])})
    return redis_server


def instance_args(server, **extra):
    args = dict(login_port=server.port, login_user='flash-admin', login_password=ADMIN_PASSWORD, wait=0)
    args.update(extra)
    return args


def test_info_reads_role_and_the_asked_sections(replica):
    outcome, result = run(redis_info, instance_args(replica, sections=['persistence', 'replication']))
    assert outcome == 'exit', result
    assert result['changed'] is False and result['reachable'] is True
    assert result['role'] == {'role': 'slave', 'master_host': '10.0.0.11', 'master_port': 6379, 'link': 'connected', 'offset': 4242}
    assert result['info']['master_link_status'] == 'up' and result['info']['loading'] == '0'
    assert ['INFO', 'persistence', 'replication'] in replica.commands
    assert result['masters'] == {}


def test_info_without_sections_asks_no_info(replica):
    outcome, result = run(redis_info, instance_args(replica))
    assert outcome == 'exit' and result['info'] == {}
    assert not [c for c in replica.commands if c[0] == 'INFO']


def test_info_parses_a_master_and_its_replicas(replica):
    replica.replies['ROLE'] = ['master', 900, [['10.0.0.12', '6379', '880'], ['10.0.0.13', '6379', '870']]]
    outcome, result = run(redis_info, instance_args(replica))
    assert outcome == 'exit'
    assert result['role'] == {'role': 'master', 'offset': 900,
                              'replicas': [{'host': '10.0.0.12', 'port': 6379, 'offset': 880},
                                           {'host': '10.0.0.13', 'port': 6379, 'offset': 870}]}


def test_info_check_mode_reads_the_same_and_writes_nothing(replica):
    outcome, result = run(redis_info, instance_args(replica, sections=['replication'], _ansible_check_mode=True))
    assert outcome == 'exit' and result['changed'] is False and result['role']['role'] == 'slave'
    assert set(c[0] for c in replica.commands) <= {'AUTH', 'PING', 'ROLE', 'INFO'}


@pytest.fixture
def sentinel(redis_server):
    redis_server.password = SENTINEL_PASSWORD
    redis_server.replies['PING'] = Simple('PONG')
    redis_server.replies['ROLE'] = ['sentinel', ['flash-session', 'flash-cache']]
    known = {'flash-session': ['10.0.0.12', '6379'], 'flash-cache': ['10.0.0.13', '6380']}
    redis_server.replies['SENTINEL GET-MASTER-ADDR-BY-NAME'] = lambda c: known.get(c[2])
    return redis_server


def test_info_sentinel_masters_by_name_and_null_when_unknown(sentinel):
    outcome, result = run(redis_info, dict(login_port=sentinel.port, login_password=SENTINEL_PASSWORD, wait=0,
                                           master_names=['flash-session', 'flash-nope']))
    assert outcome == 'exit', result
    assert result['masters'] == {'flash-session': {'host': '10.0.0.12', 'port': '6379'}, 'flash-nope': None}
    assert result['role'] == {'role': 'sentinel', 'masters': ['flash-session', 'flash-cache']}


def test_info_missing_ok_refused_is_not_reachable_at_once():
    port = closed_port()
    started = time.monotonic()
    outcome, result = run(redis_info, dict(login_port=port, missing_ok=True, wait=30))
    assert time.monotonic() - started < 10  # no retry for the 30 s of wait
    assert outcome == 'exit', result
    assert result['reachable'] is False and result['changed'] is False
    assert result['role'] == {} and result['info'] == {} and result['masters'] == {}


def test_info_refused_without_missing_ok_fails_naming_the_address():
    port = closed_port()
    outcome, result = run(redis_info, dict(login_port=port, wait=0))
    assert outcome == 'fail' and ('127.0.0.1:%d' % port) in result['msg']


@pytest.mark.parametrize('missing_ok', [False, True])
def test_info_wrong_password_fails_without_retry_naming_the_address(replica, missing_ok):
    outcome, result = run(redis_info, instance_args(replica, login_password=WRONG_PASSWORD, wait=30, missing_ok=missing_ok))
    assert outcome == 'fail' and 'WRONGPASS' in result['msg'] and ('127.0.0.1:%d' % replica.port) in result['msg']
    assert WRONG_PASSWORD not in json.dumps(result)
    assert len(auths(replica)) == 1


# -------------------------------------------------------------------------------- redis_failover

class FakeFailoverSentinel(object):
    """SENTINEL MASTER/REPLICAS/FAILOVER: after FAILOVER, the flags show the failover for
    ``polls`` answers, then the first replica is the master."""

    def __init__(self, polls=2):
        self.ip, self.port, self.flags = '10.0.0.11', '6379', 'master'
        self.replicas = [{'name': '10.0.0.12:6379', 'ip': '10.0.0.12', 'port': '6379', 'flags': 'slave', 'master-link-status': 'ok'},
                         {'name': '10.0.0.13:6379', 'ip': '10.0.0.13', 'port': '6379', 'flags': 'slave', 'master-link-status': 'ok'}]
        self.polls = polls
        self.failovers = 0
        self.pending = None

    def install(self, server):
        server.password = SENTINEL_PASSWORD
        server.replies['PING'] = Simple('PONG')
        server.replies['SENTINEL MASTER'] = self.master
        server.replies['SENTINEL REPLICAS'] = lambda c: [dict(r) for r in self.replicas]
        server.replies['SENTINEL FAILOVER'] = self.failover

    def master(self, command):
        if command[2] != 'flash-session':
            return resp.RespError('ERR No such master with that name')
        if self.pending is not None:
            if self.pending > 0:
                self.pending -= 1
                self.flags = 'master,failover_in_progress'
            elif self.polls is not None:
                self.ip, self.flags, self.pending = self.replicas[0]['ip'], 'master', None
        return {'name': 'flash-session', 'ip': self.ip, 'port': self.port, 'flags': self.flags, 'num-other-sentinels': '2'}

    def failover(self, command):
        self.failovers += 1
        self.pending = self.polls if self.polls is not None else 10 ** 9
        return Simple('OK')


@pytest.fixture
def failover_sentinel(redis_server):
    fake = FakeFailoverSentinel()
    fake.install(redis_server)
    redis_server.fake = fake
    return redis_server


def failover_args(server, **extra):
    args = dict(login_port=server.port, login_password=SENTINEL_PASSWORD, master_name='flash-session', away_from=['10.0.0.11'], wait=0)
    args.update(extra)
    return args


def test_failover_hands_the_master_over_and_waits_for_flags_master(failover_sentinel, clock):
    outcome, result = run(redis_failover, failover_args(failover_sentinel, _ansible_diff=True))
    assert outcome == 'exit', result
    assert result['changed'] is True and result['reason'] == ''
    assert result['master'] == '10.0.0.11:6379' and result['new_master'] == '10.0.0.12:6379'
    assert failover_sentinel.fake.failovers == 1
    assert len(clock.sleeps) == 2  # two answers with failover_in_progress
    assert result['diff'] == {'before': {'master': '10.0.0.11:6379'}, 'after': {'master': '10.0.0.12:6379'}}


def test_failover_host_port_entry_matches_that_port_only(failover_sentinel, clock):
    outcome, result = run(redis_failover, failover_args(failover_sentinel, away_from=['10.0.0.11:6380']))
    assert outcome == 'exit' and result['changed'] is False
    outcome, result = run(redis_failover, failover_args(failover_sentinel, away_from=['10.0.0.11:6379']))
    assert outcome == 'exit' and result['changed'] is True and result['new_master'] == '10.0.0.12:6379'


def test_failover_nothing_to_do_when_the_master_is_elsewhere(failover_sentinel, clock):
    outcome, result = run(redis_failover, failover_args(failover_sentinel, away_from=['10.0.0.12']))
    assert outcome == 'exit' and result['changed'] is False
    assert 'not on 10.0.0.12' in result['reason'] and result['new_master'] == '10.0.0.11:6379'
    assert failover_sentinel.fake.failovers == 0


@pytest.mark.parametrize('breakage', [
    lambda f: setattr(f, 'replicas', []),
    lambda f: [r.update(flags='slave,s_down') for r in f.replicas],
    lambda f: [r.update({'master-link-status': 'err'}) for r in f.replicas],
    lambda f: [r.update(flags='slave,disconnected') for r in f.replicas],
])
def test_failover_nothing_to_do_without_a_healthy_replica(failover_sentinel, clock, breakage):
    breakage(failover_sentinel.fake)
    outcome, result = run(redis_failover, failover_args(failover_sentinel))
    assert outcome == 'exit' and result['changed'] is False
    assert 'no healthy replica' in result['reason']
    assert failover_sentinel.fake.failovers == 0


def test_failover_check_mode_reports_changed_without_failover(failover_sentinel, clock):
    outcome, result = run(redis_failover, failover_args(failover_sentinel, _ansible_check_mode=True))
    assert outcome == 'exit' and result['changed'] is True
    assert failover_sentinel.fake.failovers == 0
    assert not [c for c in failover_sentinel.commands if c[:2] == ['SENTINEL', 'FAILOVER']]


def test_failover_that_does_not_finish_fails_naming_the_master(failover_sentinel, clock):
    failover_sentinel.fake.polls = None  # failover_in_progress forever
    outcome, result = run(redis_failover, failover_args(failover_sentinel, timeout=5))
    assert outcome == 'fail'
    assert 'flash-session' in result['msg'] and '10.0.0.11:6379' in result['msg'] and 'within 5s' in result['msg']
    assert 5 <= len(clock.sleeps) <= 6


def test_failover_refused_by_sentinel_fails_naming_the_master(failover_sentinel, clock):
    failover_sentinel.replies['SENTINEL FAILOVER'] = resp.RespError('INPROG Failover already in progress')
    outcome, result = run(redis_failover, failover_args(failover_sentinel))
    assert outcome == 'fail' and 'flash-session' in result['msg'] and 'INPROG' in result['msg']


def test_failover_unknown_master_fails_by_name(failover_sentinel, clock):
    outcome, result = run(redis_failover, failover_args(failover_sentinel, master_name='flash-nope'))
    assert outcome == 'fail' and 'flash-nope' in result['msg'] and 'No such master' in result['msg']
    assert failover_sentinel.fake.failovers == 0


def test_info_odd_role_reply_fails_naming_the_address(replica):
    replica.replies['ROLE'] = ['slave', '10.0.0.11']
    outcome, result = run(redis_info, instance_args(replica))
    assert outcome == 'fail' and ('127.0.0.1:%d' % replica.port) in result['msg']


def test_failover_wrong_password_fails_without_retry(failover_sentinel, clock):
    outcome, result = run(redis_failover, failover_args(failover_sentinel, login_password=WRONG_PASSWORD, wait=30))
    assert outcome == 'fail' and 'WRONGPASS' in result['msg'] and ('127.0.0.1:%d' % failover_sentinel.port) in result['msg']
    assert WRONG_PASSWORD not in json.dumps(result)
    assert len(auths(failover_sentinel)) == 1


def test_failover_unreachable_sentinel_fails_naming_the_address(clock):
    port = closed_port()
    outcome, result = run(redis_failover, dict(login_port=port, master_name='flash-session', away_from=['10.0.0.11'], wait=0))
    assert outcome == 'fail' and ('127.0.0.1:%d' % port) in result['msg']


# -------------------------------------------------------------------------------- redis_bgsave

class FakeSaver(object):
    """LASTSAVE, BGSAVE SCHEDULE and INFO persistence: a save starts after ``delay`` INFO answers
    (scheduled behind an AOF rewrite) and runs for ``duration`` more."""

    def __init__(self):
        self.lastsave = 1764500000
        self.running = 0
        self.duration = 2
        self.delay = 0
        self.outcome = 'ok'
        self.status = 'ok'
        self.bgsaves = 0
        self.reply = Simple('Background saving started')

    def install(self, server):
        server.username = 'flash-admin'
        server.password = ADMIN_PASSWORD
        server.replies['PING'] = Simple('PONG')
        server.replies['LASTSAVE'] = lambda c: self.lastsave
        server.replies['BGSAVE'] = self.bgsave
        server.replies['INFO'] = self.info

    def bgsave(self, command):
        self.bgsaves += 1
        self.running = self.delay + self.duration
        return self.reply

    def info(self, command):
        if self.running:
            self.running -= 1
            if not self.running:
                self.status = self.outcome
                if self.outcome == 'ok':
                    self.lastsave += 7
        in_progress = self.running and self.running <= self.duration - 1
        return info_text({'loading': '0', 'rdb_bgsave_in_progress': '1' if in_progress else '0',
                          'rdb_last_save_time': str(self.lastsave), 'rdb_last_bgsave_status': self.status})


@pytest.fixture
def saver(redis_server):
    fake = FakeSaver()
    fake.install(redis_server)
    redis_server.fake = fake
    return redis_server


def bgsave_args(server, **extra):
    args = dict(instance_name='session', timeout=60, **instance_args(server))
    args.update(extra)
    return args


def test_bgsave_waits_for_a_newer_snapshot(saver, clock):
    outcome, result = run(redis_bgsave, bgsave_args(saver))
    assert outcome == 'exit', result
    assert result['changed'] is True
    assert result['previous_save_time'] == 1764500000 and result['last_save_time'] == 1764500007
    assert ['BGSAVE', 'SCHEDULE'] in saver.commands
    assert len(clock.sleeps) == 1  # in progress once, then done


def test_bgsave_scheduled_behind_an_aof_rewrite_waits_for_the_save_to_start_and_end(saver, clock):
    saver.fake.reply = Simple('Background saving scheduled')
    saver.fake.delay = 3  # nothing in progress yet, the old snapshot still the last
    outcome, result = run(redis_bgsave, bgsave_args(saver))
    assert outcome == 'exit' and result['last_save_time'] == 1764500007
    assert len(clock.sleeps) == 4


def test_bgsave_check_mode_reports_changed_and_saves_nothing(saver, clock):
    outcome, result = run(redis_bgsave, bgsave_args(saver, _ansible_check_mode=True))
    assert outcome == 'exit' and result['changed'] is True
    assert result['last_save_time'] == result['previous_save_time'] == 1764500000
    assert saver.fake.bgsaves == 0 and not [c for c in saver.commands if c[0] == 'BGSAVE']


def test_bgsave_failed_save_fails_naming_the_instance_without_waiting_out_the_timeout(saver, clock):
    saver.fake.outcome = 'err'
    outcome, result = run(redis_bgsave, bgsave_args(saver, timeout=600))
    assert outcome == 'fail'
    assert 'BGSAVE of instance session (127.0.0.1:%d) failed' % saver.port in result['msg'] and 'err' in result['msg']
    assert len(clock.sleeps) < 5


def test_bgsave_old_error_status_before_our_save_does_not_fail_it(saver, clock):
    saver.fake.status = 'err'  # an earlier save failed; ours, scheduled, starts later and succeeds
    saver.fake.reply = Simple('Background saving scheduled')
    saver.fake.delay = 2
    outcome, result = run(redis_bgsave, bgsave_args(saver))
    assert outcome == 'exit', result
    assert result['last_save_time'] == 1764500007


def test_bgsave_that_never_ends_fails_at_the_timeout_naming_the_instance(saver, clock):
    saver.fake.duration = 10 ** 6
    outcome, result = run(redis_bgsave, bgsave_args(saver, timeout=5))
    assert outcome == 'fail' and 'instance session' in result['msg'] and 'within 5s' in result['msg']
    assert 5 <= len(clock.sleeps) <= 6


def test_bgsave_refused_fails_naming_the_instance(saver, clock):
    saver.fake.reply = resp.RespError('ERR Background save already in progress')
    outcome, result = run(redis_bgsave, bgsave_args(saver))
    assert outcome == 'fail' and 'instance session' in result['msg'] and 'already in progress' in result['msg']


def test_bgsave_wrong_password_fails_without_retry(saver, clock):
    outcome, result = run(redis_bgsave, bgsave_args(saver, login_password=WRONG_PASSWORD, wait=30))
    assert outcome == 'fail' and 'WRONGPASS' in result['msg'] and ('127.0.0.1:%d' % saver.port) in result['msg']
    assert WRONG_PASSWORD not in json.dumps(result)
    assert len(auths(saver)) == 1 and saver.fake.bgsaves == 0


def test_bgsave_unreachable_fails_naming_the_address(clock):
    port = closed_port()
    outcome, result = run(redis_bgsave, dict(login_port=port, wait=0))
    assert outcome == 'fail' and ('127.0.0.1:%d' % port) in result['msg']
