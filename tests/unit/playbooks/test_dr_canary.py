# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The DR drill's canary (playbooks/files/dr_canary.py): it looks for the key the app writes, its
run loop writes one line per command through the path, and its report computes the RPO from what
the restored Redis holds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


canary = load('dr_canary', os.path.join(HERE, '..', '..', '..', 'playbooks', 'files', 'dr_canary.py'))
ref = load('reference_app_for_canary', os.path.join(HERE, '..', '..', 'app', 'app.py'))


class DictRedis(object):
    """The part of redis-py the reference app's sessions and the canary's report use."""

    def __init__(self, *args, **kwargs):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, ex=None):
        self.data[key] = value
        return True

    def exists(self, key):
        return int(key in self.data)


def test_the_canary_asks_for_the_key_the_app_writes_for_a_session():
    app = ref.App.__new__(ref.App)  # no connections: only the session logic is exercised
    app.redis = DictRedis()
    app.business = ref.BusinessMetrics()  # the session counts its creations
    app.session('dr-canary-1796231962000')
    assert canary.session_index_key('dr-canary-1796231962000') in app.redis.data
    assert canary.session_index_key('someone-else') not in app.redis.data


class Commands(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        Commands.seen.append((self.path, body))
        self.send_response(200 if len(Commands.seen) != 2 else 503)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'{}')

    def log_message(self, *args):
        pass


def test_run_sends_one_command_per_interval_through_the_path_and_logs_each_answer(tmp_path):
    Commands.seen = []
    server = HTTPServer(('127.0.0.1', 0), Commands)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log, stop = tmp_path / 'canary.jsonl', tmp_path / 'stop'
    url = 'http://127.0.0.1:%d/' % server.server_address[1]
    threading.Timer(0.5, stop.write_text, args=('stop',)).start()
    try:
        assert canary.main(['run', '--url', url, '--log', str(log), '--stop', str(stop), '--interval', '0.1']) == 0
    finally:
        server.shutdown()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert 3 <= len(lines) <= 7
    assert [e['status'] for e in lines[:3]] == [200, 503, 200]
    assert all(path == '/api/commands' and body['command'] == 'help' and body['user'] == e['user']
               for (path, body), e in zip(Commands.seen, lines))
    assert len({e['user'] for e in lines}) == len(lines), 'each write is a new user (a new session)'
    assert all(ref.USER_PATTERN.match(e['user']) for e in lines), 'the app refuses user names outside its pattern'


def write_log(path, entries):
    path.write_text(''.join(json.dumps(e) + '\n' for e in entries))


@pytest.mark.parametrize('restored, rpo, missing_before', [
    (('a', 'b'), 30.0, []),          # the copy held the first two writes: RPO from the second
    (('a',), 40.0, []),
    (('a', 'c'), 20.0, ['b']),       # b lost but c found: the restore is not one consistent copy
    ((), None, []),                  # nothing found: no RPO (the playbook fails on found == 0)
])
def test_report_gives_the_rpo_from_the_last_canary_found_before_the_loss(tmp_path, monkeypatch, capsys,
                                                                         restored, rpo, missing_before):
    entries = [{'t': 100.0, 'user': 'a', 'status': 200}, {'t': 110.0, 'user': 'b', 'status': 200},
               {'t': 120.0, 'user': 'c', 'status': 200}, {'t': 125.0, 'user': 'x', 'status': 503},
               {'t': 150.0, 'user': 'late', 'status': 200}]
    write_log(tmp_path / 'log', entries)
    store = DictRedis()
    for user in restored:
        store.set(canary.session_index_key(user), 'id')
    fake = type(sys)('redis')
    fake.Redis = lambda **kwargs: store
    monkeypatch.setitem(sys.modules, 'redis', fake)
    assert canary.main(['report', '--log', str(tmp_path / 'log'), '--loss', '140', '--host', 'h', '--port', '1']) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures['written'] == 3, 'answered writes before the loss only (not the 503, not the one after)'
    assert figures['found'] == len(restored)
    assert figures['rpo_s'] == rpo
    assert figures['missing_before_last_found'] == missing_before
