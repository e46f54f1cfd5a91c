# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""An AMQP 0-9-1 login, the way an app's client opens its connection: protocol header,
Start/Start-Ok (PLAIN), Tune/Tune-Ok, Open on the vhost, then a clean Close.

Private to the flash.connect collection; the standard library only, so the health gate proves
"RabbitMQ accepts this user on this vhost" on a target without pika.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import struct

PROTOCOL_HEADER = b'AMQP\x00\x00\x09\x01'
FRAME_METHOD = 1
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE
MAX_FRAME = 131072

CONNECTION = 10
START, START_OK, TUNE, TUNE_OK, OPEN, OPEN_OK, CLOSE, CLOSE_OK = 10, 11, 30, 31, 40, 41, 50, 51


class AmqpRefused(Exception):
    """The broker closed the connection with a reply code (403 ACCESS_REFUSED, 530 NOT_ALLOWED, ...)."""

    def __init__(self, code, text, step):
        super(AmqpRefused, self).__init__('%s %s (%s)' % (code, text, step))
        self.code, self.text, self.step = code, text, step


class AmqpProtocolError(Exception):
    """The peer does not speak AMQP 0-9-1, or the connection ended mid-handshake."""


def _shortstr(value):
    data = value.encode('utf-8') if not isinstance(value, bytes) else value
    if len(data) > 255:
        raise ValueError('an AMQP short string holds at most 255 bytes')
    return struct.pack('>B', len(data)) + data


def _longstr(value):
    data = value.encode('utf-8') if not isinstance(value, bytes) else value
    return struct.pack('>I', len(data)) + data


def _table(entries):
    """A field table of strings, booleans and nested tables (what client-properties need)."""
    body = b''
    for key, value in entries:
        body += _shortstr(key)
        if isinstance(value, bool):
            body += b't' + struct.pack('>B', 1 if value else 0)
        elif isinstance(value, list):
            body += b'F' + _table(value)
        else:
            body += b'S' + _longstr(value)
    return struct.pack('>I', len(body)) + body


def method_frame(class_id, method_id, args, channel=0):
    payload = struct.pack('>HH', class_id, method_id) + args
    return struct.pack('>BHI', FRAME_METHOD, channel, len(payload)) + payload + struct.pack('>B', FRAME_END)


def start_ok(username, password):
    props = _table([('product', 'flash.connect health_gate'),
                    ('capabilities', [('authentication_failure_close', True)])])
    response = b'\x00' + username.encode('utf-8') + b'\x00' + password.encode('utf-8')
    return method_frame(CONNECTION, START_OK, props + _shortstr('PLAIN') + _longstr(response) + _shortstr('en_US'))


def tune_ok(channel_max, frame_max):
    return method_frame(CONNECTION, TUNE_OK, struct.pack('>HIH', channel_max, frame_max, 0))


def connection_open(vhost):
    return method_frame(CONNECTION, OPEN, _shortstr(vhost) + _shortstr('') + b'\x00')


def connection_close():
    return method_frame(CONNECTION, CLOSE, struct.pack('>H', 200) + _shortstr('OK') + struct.pack('>HH', 0, 0))


class _Reader(object):
    def __init__(self, sock):
        self._sock = sock
        self._buf = b''

    def _exactly(self, count):
        while len(self._buf) < count:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise AmqpProtocolError('the connection ended during the AMQP handshake')
            self._buf += chunk
        data, self._buf = self._buf[:count], self._buf[count:]
        return data

    def method(self):
        """The next method frame on channel 0 as (class, method, arguments); heartbeats skipped."""
        while True:
            head = self._exactly(7)
            if head[:4] == b'AMQP':
                raise AmqpProtocolError('the broker refused the protocol version (it offered %r)' % (head[:4] + self._exactly(1)))
            kind, dummy, size = struct.unpack('>BHI', head)
            if size > MAX_FRAME:
                raise AmqpProtocolError('a frame of %d bytes is not an AMQP handshake' % size)
            payload = self._exactly(size)
            if self._exactly(1) != struct.pack('>B', FRAME_END):
                raise AmqpProtocolError('a frame did not end with 0xCE: not AMQP 0-9-1')
            if kind == FRAME_HEARTBEAT:
                continue
            if kind != FRAME_METHOD or len(payload) < 4:
                raise AmqpProtocolError('expected a method frame, got frame type %d' % kind)
            class_id, method_id = struct.unpack('>HH', payload[:4])
            return class_id, method_id, payload[4:]


def _parse_close(args):
    code = struct.unpack('>H', args[:2])[0]
    length = struct.unpack('>B', args[2:3])[0]
    return code, args[3:3 + length].decode('utf-8', 'replace')


def _expect(reader, method_id, step):
    class_id, got, args = reader.method()
    if class_id == CONNECTION and got == CLOSE:
        code, text = _parse_close(args)
        raise AmqpRefused(code, text, step)
    if (class_id, got) != (CONNECTION, method_id):
        raise AmqpProtocolError('expected connection method %d at %s, got %d.%d' % (method_id, step, class_id, got))
    return args


def login(host, port, username, password, vhost, timeout, create_connection=None, ssl_context=None):
    """Open and close one AMQP connection as ``username`` on ``vhost``. Returns a one-line
    detail; raises AmqpRefused (with the broker's reply code) or AmqpProtocolError or OSError."""
    connect = create_connection or socket.create_connection
    sock = connect((host, port), timeout)
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        sock.settimeout(timeout)
        reader = _Reader(sock)
        sock.sendall(PROTOCOL_HEADER)
        args = _expect(reader, START, 'start')
        if len(args) < 2 or args[:2] != b'\x00\x09':
            raise AmqpProtocolError('the broker speaks AMQP %d-%d, not 0-9-1' % (args[0], args[1]) if len(args) >= 2 else 'empty start')
        sock.sendall(start_ok(username, password))
        args = _expect(reader, TUNE, 'login')
        channel_max, frame_max, dummy = struct.unpack('>HIH', args[:8])
        sock.sendall(tune_ok(channel_max, min(frame_max or MAX_FRAME, MAX_FRAME)))
        sock.sendall(connection_open(vhost))
        _expect(reader, OPEN_OK, 'vhost')
        sock.sendall(connection_close())
        try:
            _expect(reader, CLOSE_OK, 'close')
        except (AmqpProtocolError, OSError):
            pass  # the login is proven; a broker that drops instead of Close-Ok is fine
        return 'AMQP login of %s on vhost %s accepted' % (username, vhost)
    finally:
        try:
            sock.close()
        except Exception:
            pass
