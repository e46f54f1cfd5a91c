# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared code of the redis_* modules: connection options, login, retries, value quoting.

Private to the flash.connect collection. Built on the RESP client of the health gate
(``_health_resp``), so the modules need nothing but the standard library on the target.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ssl
import time

from ansible_collections.flash.connect.plugins.module_utils import _health_resp as resp

# Values never shown in a diff or a result: Redis settings that hold a password.
SECRET_SETTINGS = frozenset(['masterauth', 'requirepass', 'auth-pass', 'sentinel-pass', 'tls-key-file-pass',
                             'tls-client-key-file-pass'])
HIDDEN = '<hidden>'


def connection_argument_spec():
    """Options every redis_* module takes to reach the server (or Sentinel) and log in."""
    return dict(
        login_host=dict(type='str', default='127.0.0.1'),
        login_port=dict(type='int', default=6379),
        login_user=dict(type='str'),
        login_password=dict(type='str', no_log=True),
        tls=dict(type='bool', default=False),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        connect_timeout=dict(type='float', default=5.0),
        wait=dict(type='int', default=30),
    )


_LOOPBACK = ('127.0.0.1', '::1', 'localhost')

# Errors that mean "not ready yet" (a starting or loading instance), worth a retry.
_RETRY_CODES = ('LOADING', 'BUSY', 'MASTERDOWN', 'TRYAGAIN')


def connect(params, sleep=time.sleep, clock=time.time, create_connection=None):
    """Open a logged-in connection from the module's connection options.

    Retries for up to ``wait`` seconds while the server refuses connections or answers
    LOADING (an instance just started). Authentication errors are not retried: a wrong
    password stays wrong.
    """
    deadline = clock() + max(0, params.get('wait') or 0)
    last = None
    while True:
        conn = None
        try:
            context = None
            if params.get('tls'):
                context = resp.make_ssl_context(params.get('validate_certs', True), params.get('ca_path'))
                if params['login_host'] in _LOOPBACK and context.verify_mode != ssl.CERT_NONE:
                    # Like redis-cli: the chain is verified, but a certificate made for the host's
                    # name has no 127.0.0.1 in it.
                    context.check_hostname = False
            conn = resp.RespConnection(params['login_host'], params['login_port'], params.get('connect_timeout') or 5.0,
                                       ssl_context=context, create_connection=create_connection)
            if params.get('login_password') is not None:
                if params.get('login_user'):
                    conn.command('AUTH', params['login_user'], params['login_password'])
                else:
                    conn.command('AUTH', params['login_password'])
            conn.command('PING')
            return conn
        except resp.RespError as exc:
            if conn is not None:
                conn.close()
            if exc.code not in _RETRY_CODES:
                raise
            last = exc
        except (OSError, resp.RespProtocolError) as exc:
            if conn is not None:
                conn.close()
            last = exc
        if clock() >= deadline:
            raise ConnectionError('%s:%s did not answer within %ss: %s'
                                  % (params['login_host'], params['login_port'], params.get('wait'), last))
        sleep(0.5)


def mask(settings, secrets=SECRET_SETTINGS):
    """A copy of ``settings`` with the values of secret settings replaced, for diffs and results."""
    return dict((k, HIDDEN if k in secrets else v) for k, v in settings.items())


def masked_diff(before, after, secrets=SECRET_SETTINGS):
    """Before/after dicts for a diff: secret values hidden, a changed secret says so."""
    shown_before, shown_after = mask(before, secrets), mask(after, secrets)
    for key in secrets:
        if key in before and key in after and before[key] != after[key]:
            shown_before[key] = HIDDEN + ' (old)'
            shown_after[key] = HIDDEN + ' (new)'
    return dict(before=shown_before, after=shown_after)


def sds_repr(value):
    """Quote ``value`` the way Redis's ``sdscatrepr`` does (CONFIG REWRITE, ACL SAVE, Sentinel's file).

    The result is a double-quoted string that Redis's ``sdssplitargs`` reads back to ``value``:
    backslash, double quote, ``\\n \\r \\t \\a \\b`` escaped, other non-printable bytes as ``\\xHH``.
    """
    data = value.encode('utf-8') if not isinstance(value, bytes) else value
    out = ['"']
    for byte in bytearray(data):
        ch = chr(byte)
        if ch in ('\\', '"'):
            out.append('\\' + ch)
        elif ch == '\n':
            out.append('\\n')
        elif ch == '\r':
            out.append('\\r')
        elif ch == '\t':
            out.append('\\t')
        elif ch == '\a':
            out.append('\\a')
        elif ch == '\b':
            out.append('\\b')
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append('\\x%02x' % byte)
    out.append('"')
    return ''.join(out)


def config_get(conn, names):
    """CONFIG GET of each name (one call per name: a pattern-free, exact read); absent names are left out."""
    values = {}
    for name in names:
        reply = conn.command('CONFIG', 'GET', name)
        pairs = resp.pairs_to_dict(reply or [])
        if name in pairs:
            values[name] = pairs[name]
    return values


_UNESCAPE = {'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'a': '\a'}


def sds_split_args(line):
    """Split one line of a Redis config file into its arguments, as Redis's ``sdssplitargs`` does.

    Double quotes take the escapes ``sds_repr`` writes (``\\xHH``, ``\\n``...), single quotes
    only ``\\'``. Returns None for unbalanced quotes (Redis refuses such a line too).
    """
    args, i, n = [], 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        current, inq, insq = bytearray(), False, False
        while True:
            if inq:
                if i >= n:
                    return None
                ch = line[i]
                if ch == '\\' and i + 3 < n and line[i + 1] == 'x' and _ishex(line[i + 2]) and _ishex(line[i + 3]):
                    current.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif ch == '\\' and i + 1 < n:
                    i += 1
                    current.extend(_UNESCAPE.get(line[i], line[i]).encode('utf-8'))
                elif ch == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        return None
                    i += 1
                    break
                else:
                    current.extend(ch.encode('utf-8'))
            elif insq:
                if i >= n:
                    return None
                ch = line[i]
                if ch == '\\' and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    current.extend(b"'")
                elif ch == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        return None
                    i += 1
                    break
                else:
                    current.extend(ch.encode('utf-8'))
            else:
                if i >= n or line[i].isspace():
                    break
                ch = line[i]
                if ch == '"':
                    inq = True
                elif ch == "'":
                    insq = True
                else:
                    current.extend(ch.encode('utf-8'))
            i += 1
        args.append(current.decode('utf-8', 'surrogateescape'))


def _ishex(ch):
    return ch in '0123456789abcdefABCDEF'


def sentinel_auth_from_file(path, master_name):
    """The ``auth-user`` and ``auth-pass`` Sentinel's own file holds for ``master_name`` (None where absent)."""
    found = {'auth-user': None, 'auth-pass': None}
    with open(path) as handle:
        for line in handle:
            args = sds_split_args(line.strip())
            if args and len(args) == 4 and args[0] == 'sentinel' and args[1] in found and args[2] == master_name:
                found[args[1]] = args[3]
    return found
