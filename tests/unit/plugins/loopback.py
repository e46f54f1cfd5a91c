# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test doubles shared by the health unit tests: a fake clock and scriptable servers on 127.0.0.1.

The ``http_server`` and ``redis_server`` fixtures in ``conftest.py`` wrap the servers below.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp


class FakeClock(object):
    """A clock that only moves when the code under test sleeps or a test moves ``now``.

    It starts away from 0 so that code mixing up instants and durations shows.
    """

    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@contextlib.contextmanager
def _serving(server):
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -------------------------------------------------------------------------------- HTTP

class _HttpHandler(BaseHTTPRequestHandler):
    """Answers from ``server.routes`` and records every request in ``server.hits``.

    A route is ``(status, payload)`` or ``(status, payload, headers)``, or a callable
    ``route(n, handler)`` returning one, where ``n`` counts the requests so far (1 for the first).
    A bytes payload is sent as it is, anything else as JSON. Unknown paths answer 404.
    """

    def log_message(self, *args):
        pass

    def _serve(self):
        server = self.server
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        with server.lock:
            server.hits.append({'method': self.command, 'path': self.path, 'headers': dict(self.headers), 'body': body})
            count = len(server.hits)
        route = server.routes.get(self.path, (404, {'error': 'Object Not Found'}))
        if callable(route):
            route = route(count, self)
        status, payload = route[0], route[1]
        headers = route[2] if len(route) > 2 else {}
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve


def serve_http():
    """Context manager: an HTTP server on an ephemeral port; ``.base`` is its ``http://127.0.0.1:PORT``."""
    server = ThreadingHTTPServer(('127.0.0.1', 0), _HttpHandler)
    server.routes = {}
    server.hits = []
    server.lock = threading.Lock()
    server.base = 'http://127.0.0.1:%d' % server.server_address[1]
    return _serving(server)


# -------------------------------------------------------------------------------- Redis (RESP2)

class Simple(str):
    """A simple-string reply (``+OK``)."""


def encode_reply(value):
    """Server side of RESP2, for the fake Redis."""
    if isinstance(value, resp.RespError):
        return b'-' + str(value).encode() + b'\r\n'
    if isinstance(value, Simple):
        return b'+' + value.encode() + b'\r\n'
    if value is None:
        return b'$-1\r\n'
    if isinstance(value, int):
        return b':%d\r\n' % value
    if isinstance(value, str):
        data = value.encode()
        return b'$%d\r\n%s\r\n' % (len(data), data)
    if isinstance(value, dict):
        value = [item for pair in value.items() for item in pair]
    return b'*%d\r\n' % len(value) + b''.join(encode_reply(item) for item in value)


class _RespHandler(socketserver.StreamRequestHandler):
    """Answers from ``server.replies`` (keyed by command, ``'SENTINEL <SUB>'`` for Sentinel; a callable
    reply is called with the command's words) and
    records every command in ``server.commands``. With ``server.password`` set it wants AUTH first,
    with ``server.username`` too an ACL user."""

    def handle(self):
        server = self.server
        authed = server.password is None
        while True:
            try:
                command = resp.read_reply(self.rfile)
            except resp.RespProtocolError:
                return
            server.commands.append(command)
            word = ' '.join(command[:2]).upper() if command[0].upper() == 'SENTINEL' else command[0].upper()
            if word == 'AUTH':
                given = command[1:]
                expected = [server.password] if server.username is None else [server.username, server.password]
                if given == expected:
                    authed = True
                    reply = Simple('OK')
                else:
                    reply = resp.RespError('WRONGPASS invalid username-password pair or user is disabled.')
            elif not authed:
                reply = resp.RespError('NOAUTH Authentication required.')
            elif word in server.replies:
                reply = server.replies[word]
                if callable(reply):
                    # A stateful fake: the reply is computed from the command (e.g. CONFIG SET then GET).
                    reply = reply(command)
            else:
                reply = resp.RespError("ERR unknown command '%s'" % command[0])
            self.wfile.write(encode_reply(reply))


def serve_resp():
    """Context manager: a fake Redis/Sentinel on an ephemeral port of 127.0.0.1 (``.port``)."""
    server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), _RespHandler)
    server.commands = []
    server.replies = {}
    server.username = None
    server.password = None
    server.port = server.server_address[1]
    return _serving(server)
