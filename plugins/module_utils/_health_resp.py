# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A tiny RESP2 client: enough of the Redis protocol for health checks (AUTH, ROLE, INFO, SENTINEL).

Private to the flash.connect collection. It needs only the standard library, so the
health gate runs on targets without redis-py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import ssl

# A health check never needs big replies; refuse anything that looks like a runaway
# stream instead of reading it into memory.
MAX_BULK_BYTES = 16 * 1024 * 1024
MAX_ARRAY_ITEMS = 1024 * 1024
MAX_DEPTH = 16


class RespError(Exception):
    """An error reply from the server (a RESP ``-`` line), e.g. ``WRONGPASS ...``."""

    @property
    def code(self):
        """First word of the error, e.g. ``ERR``, ``NOAUTH``, ``NOQUORUM``."""
        text = str(self)
        return text.split(' ', 1)[0] if text else ''


class RespProtocolError(Exception):
    """The bytes on the wire are not RESP2, or the connection ended in the middle of a reply."""


def _as_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        raise TypeError('RESP command arguments cannot be booleans')
    if isinstance(value, (int, float)):
        return str(value).encode('ascii')
    if isinstance(value, str):
        return value.encode('utf-8')
    raise TypeError('RESP command arguments must be str, bytes or numbers, not %s' % type(value).__name__)


def encode_command(*args):
    """Encode one command as a RESP array of bulk strings."""
    if not args:
        raise ValueError('a RESP command needs at least one word')
    parts = [b'*%d\r\n' % len(args)]
    for arg in args:
        data = _as_bytes(arg)
        parts.append(b'$%d\r\n' % len(data))
        parts.append(data)
        parts.append(b'\r\n')
    return b''.join(parts)


def _decode(data):
    return data.decode('utf-8', 'replace')


def _readline(reader):
    line = reader.readline(MAX_BULK_BYTES)
    if not line:
        raise RespProtocolError('connection closed by the server')
    if not line.endswith(b'\r\n'):
        raise RespProtocolError('incomplete RESP line: %r' % line[:64])
    return line[:-2]


def _length(text, what):
    try:
        value = int(text)
    except ValueError:
        raise RespProtocolError('bad %s length: %r' % (what, text[:64]))
    return value


def _bounded_length(text, what, limit):
    """Length of a bulk string or array: None for the null reply (-1), else 0..limit."""
    size = _length(text, what)
    if size == -1:
        return None
    if size < 0 or size > limit:
        raise RespProtocolError('%s length %d out of range' % (what, size))
    return size


def read_reply(reader, depth=0):
    """Read one reply from ``reader`` (anything with ``readline(limit)`` and ``read(n)``).

    Simple strings and bulk strings come back as ``str``, integers as ``int``, null
    bulk strings and arrays as ``None``, arrays as lists (nested as deep as the reply),
    and error replies as ``RespError`` instances (returned, not raised, so an error
    inside an array does not lose the rest of the array).
    """
    if depth > MAX_DEPTH:
        raise RespProtocolError('RESP reply nested deeper than %d levels' % MAX_DEPTH)
    line = _readline(reader)
    if not line:
        raise RespProtocolError('empty RESP line')
    kind, rest = line[:1], line[1:]
    if kind == b'+':
        return _decode(rest)
    if kind == b'-':
        return RespError(_decode(rest))
    if kind == b':':
        return _length(rest, 'integer')
    if kind == b'$':
        size = _bounded_length(rest, 'bulk string', MAX_BULK_BYTES)
        if size is None:
            return None
        data = reader.read(size + 2)
        if data is None or len(data) != size + 2:
            raise RespProtocolError('connection closed in the middle of a bulk string')
        if data[-2:] != b'\r\n':
            raise RespProtocolError('bulk string not terminated by CRLF')
        return _decode(data[:-2])
    if kind == b'*':
        count = _bounded_length(rest, 'array', MAX_ARRAY_ITEMS)
        if count is None:
            return None
        return [read_reply(reader, depth + 1) for dummy in range(count)]
    raise RespProtocolError('unknown RESP type byte %r' % kind)


def pairs_to_dict(flat):
    """Turn a flat ``[key, value, key, value, ...]`` reply (SENTINEL MASTER/REPLICAS) into a dict."""
    if not isinstance(flat, list) or len(flat) % 2:
        raise RespProtocolError('expected a flat list of field/value pairs')
    return dict((str(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2))


def parse_info(text):
    """Parse the text of ``INFO`` into a dict of ``field: value`` strings (sections are ignored)."""
    fields = {}
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or ':' not in line:
            continue
        key, value = line.split(':', 1)
        fields[key] = value
    return fields


def make_ssl_context(validate_certs=True, ca_path=None):
    """TLS context for a Redis port with ``tls-port``: verify the server unless told not to."""
    context = ssl.create_default_context(cafile=ca_path)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class RespConnection(object):
    """One blocking connection to a Redis server or Sentinel; use it as a context manager."""

    def __init__(self, host, port, timeout, ssl_context=None, create_connection=None):
        connect = create_connection or socket.create_connection
        self._sock = connect((host, port), timeout)
        try:
            self._sock.settimeout(timeout)
            if ssl_context is not None:
                self._sock = ssl_context.wrap_socket(self._sock, server_hostname=host)
            self._reader = self._sock.makefile('rb')
        except Exception:
            self._sock.close()
            raise

    def command(self, *args):
        """Send one command and return its reply; an error reply is raised as RespError."""
        self._sock.sendall(encode_command(*args))
        reply = read_reply(self._reader)
        if isinstance(reply, RespError):
            raise reply
        return reply

    def close(self):
        try:
            self._reader.close()
        finally:
            self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False
