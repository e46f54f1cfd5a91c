# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Health gate probes: the part that talks to services (HTTP, TCP, Redis, RabbitMQ, Prometheus).

Private to the flash.connect collection. Each probe asks once and hands what it got to a
pure verdict function of ``_health``. The network functions and the clock are attributes
of ``Prober`` so tests can replace them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket
import time
from urllib.error import HTTPError
from urllib.parse import quote

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url

from ansible_collections.flash.connect.plugins.module_utils import _health
from ansible_collections.flash.connect.plugins.module_utils import _health_amqp
from ansible_collections.flash.connect.plugins.module_utils import _health_resp

# Bodies bigger than this are cut: a health answer is small, a runaway one must not fill memory.
MAX_BODY_BYTES = 1024 * 1024


def _error_text(exc):
    reason = getattr(exc, 'reason', None)
    text = to_text(reason if reason is not None else exc)
    return '%s: %s' % (type(exc).__name__, _health.redact_url(text)) if text else type(exc).__name__


class Prober(object):
    """Runs one check once. ``open_url``, ``create_connection`` and ``clock`` may be replaced (tests)."""

    def __init__(self, open_url_func=None, create_connection=None, clock=None):
        self.open_url = open_url_func or open_url
        self.create_connection = create_connection or socket.create_connection
        self.clock = clock or time.monotonic

    def __call__(self, check, remaining):
        return getattr(self, 'probe_' + check['type'])(check, remaining)

    @staticmethod
    def _timeout(check, remaining):
        return min(float(check['timeout']), remaining())

    def _elapsed_ms(self, start):
        return (self.clock() - start) * 1000.0

    # ---------------------------------------------------------------- HTTP (and HTTP APIs)

    def request(self, url, check, timeout, method='GET', data=None, headers=None):
        """One HTTP request. Returns (status, body bytes, latency ms, error text); status None on a transport error."""
        return self.request_with_headers(url, check, timeout, method, data, headers)[:4]

    @staticmethod
    def _headers_of(response):
        found = getattr(response, 'headers', None)
        if found is None and hasattr(response, 'info'):
            found = response.info()
        try:
            return dict((str(k), str(v)) for k, v in (found or {}).items())
        except AttributeError:
            return {}

    def request_with_headers(self, url, check, timeout, method='GET', data=None, headers=None):
        """As ``request``, plus the response headers as a fifth item ({} on a transport error)."""
        start = self.clock()
        response_headers = {}
        try:
            response = self.open_url(
                url, data=data, headers=headers or {}, method=method, use_proxy=check.get('use_proxy', True),
                timeout=timeout, validate_certs=check.get('validate_certs', True), ca_path=check.get('ca_path'),
                url_username=check.get('username'), url_password=check.get('password'),
                force_basic_auth=bool(check.get('username')), follow_redirects='none', use_netrc=False)
            try:
                status = response.getcode()
                response_headers = self._headers_of(response)
                body = response.read(MAX_BODY_BYTES)
            finally:
                response.close()
        except HTTPError as exc:
            status = exc.code
            response_headers = self._headers_of(exc)
            try:
                body = exc.read(MAX_BODY_BYTES) or b''
            except Exception:
                body = b''
        except Exception as exc:
            return None, b'', self._elapsed_ms(start), 'request to %s failed: %s' % (_health.redact_url(url), _error_text(exc)), {}
        return status, body, self._elapsed_ms(start), None, response_headers

    def _http_once(self, check, remaining):
        data = None
        headers = dict(check.get('headers') or {})
        if check.get('json') is not None:
            data = json.dumps(check['json']).encode('utf-8')
            if not any(key.lower() == 'content-type' for key in headers):
                headers['Content-Type'] = 'application/json'
        elif check.get('body') is not None:
            data = to_text(check['body']).encode('utf-8')
        status, body, latency, error, response_headers = self.request_with_headers(
            check['url'], check, self._timeout(check, remaining), method=check['method'], data=data, headers=headers)
        if error:
            return _health.ProbeResult(False, error, latency)
        return _health.evaluate_http(status, body, latency, check, headers=response_headers)

    def probe_http(self, check, remaining):
        results = [self._http_once(check, remaining) for dummy in range(check['requests'])]
        return _health.evaluate_window(results, check['max_error_rate'])

    def get_json(self, url, check, timeout):
        """GET a JSON API. Returns (status, document or None, latency ms, error text)."""
        status, body, latency, error = self.request(url, check, timeout, headers=dict(check.get('headers') or {}))
        if error:
            return None, None, latency, error
        try:
            document = json.loads(to_text(body, errors='surrogate_or_replace'))
        except ValueError:
            document = None
        return status, document, latency, None

    def probe_amqp_login(self, check, remaining):
        target = check['_amqp']
        address = '%s:%s' % (target['host'], target['port'])
        start = self.clock()
        try:
            context = _health_resp.make_ssl_context(check['validate_certs'], check.get('ca_path')) if target['tls'] else None
            detail = _health_amqp.login(target['host'], target['port'], check['username'], check['password'], check['vhost'],
                                        self._timeout(check, remaining), create_connection=self.create_connection,
                                        ssl_context=context)
        except _health_amqp.AmqpRefused as exc:
            what = {'login': 'refused the login of %s' % check['username'],
                    'vhost': 'refused %s on vhost %s' % (check['username'], check['vhost'])}.get(exc.step, 'closed the connection')
            return _health.ProbeResult(False, '%s %s: %s %s' % (address, what, exc.code, exc.text), self._elapsed_ms(start))
        except Exception as exc:
            return _health.ProbeResult(False, 'AMQP connection to %s failed: %s' % (address, _error_text(exc)), self._elapsed_ms(start))
        return _health.ProbeResult(True, '%s: %s' % (address, detail), self._elapsed_ms(start))

    def probe_rabbitmq(self, check, remaining):
        if check.get('_amqp'):
            return self.probe_amqp_login(check, remaining)
        base = check['url'].rstrip('/')
        status, nodes, latency, error = self.get_json(base + '/api/nodes', check, self._timeout(check, remaining))
        if error:
            return _health.ProbeResult(False, error, latency)
        if status != 200:
            hint = ' (check username and password)' if status == 401 else ''
            return _health.ProbeResult(False, '/api/nodes answered HTTP %s%s' % (status, hint), latency)
        result = _health.evaluate_rabbitmq_nodes(nodes, check.get('min_running_nodes'))
        if not result.ok or not check.get('vhost'):
            return _health.ProbeResult(result.ok, result.detail, latency)
        health_status, health_body, more, error = self.get_json(base + '/api/health/checks/virtual-hosts', check, self._timeout(check, remaining))
        latency += more
        if error:
            return _health.ProbeResult(False, error, latency)
        vhost_status, vhost_body, more, error = self.get_json(base + '/api/vhosts/' + quote(check['vhost'], safe=''), check,
                                                              self._timeout(check, remaining))
        latency += more
        if error:
            return _health.ProbeResult(False, error, latency)
        vhost = _health.evaluate_rabbitmq_vhost(check['vhost'], health_status, health_body, vhost_status, vhost_body)
        if not vhost.ok:
            return _health.ProbeResult(False, vhost.detail, latency)
        return _health.ProbeResult(True, '%s; %s' % (result.detail, vhost.detail), latency)

    def probe_prometheus(self, check, remaining):
        url = check['url'].rstrip('/') + '/api/v1/alerts'
        status, payload, latency, error = self.get_json(url, check, self._timeout(check, remaining))
        if error:
            return _health.ProbeResult(False, error, latency)
        if status != 200:
            return _health.ProbeResult(False, '/api/v1/alerts answered HTTP %s' % status, latency)
        result = _health.evaluate_prometheus(payload, check.get('labels') or {})
        return _health.ProbeResult(result.ok, result.detail, latency)

    # ---------------------------------------------------------------- TCP

    def probe_tcp(self, check, remaining):
        address = '%s:%s' % (check['host'], check['port'])
        start = self.clock()
        try:
            sock = self.create_connection((check['host'], check['port']), self._timeout(check, remaining))
        except Exception as exc:
            return _health.ProbeResult(False, 'connection to %s failed: %s' % (address, _error_text(exc)), self._elapsed_ms(start))
        latency = self._elapsed_ms(start)
        sock.close()
        return _health.evaluate_latency(_health.ProbeResult(True, 'connected to %s in %.1f ms' % (address, latency), latency), check)

    # ---------------------------------------------------------------- Redis

    def probe_redis(self, check, remaining):
        address = '%s:%s' % (check['host'], check['port'])
        start = self.clock()
        try:
            context = _health_resp.make_ssl_context(check['validate_certs'], check.get('ca_path')) if check['tls'] else None
            with _health_resp.RespConnection(check['host'], check['port'], self._timeout(check, remaining),
                                             ssl_context=context, create_connection=self.create_connection) as conn:
                if check.get('password') is not None:
                    if check.get('username'):
                        conn.command('AUTH', check['username'], check['password'])
                    else:
                        conn.command('AUTH', check['password'])
                if check['sentinel']:
                    result = self._sentinel(conn, check)
                else:
                    result = self._server_role(conn, check)
                    if result.ok and check.get('write_key'):
                        result = self._write(conn, check['write_key'], result)
        except _health_resp.RespError as exc:
            return _health.ProbeResult(False, '%s answered an error: %s' % (address, exc), self._elapsed_ms(start))
        except Exception as exc:
            return _health.ProbeResult(False, 'connection to %s failed: %s' % (address, _error_text(exc)), self._elapsed_ms(start))
        latency = self._elapsed_ms(start)
        return _health.evaluate_latency(_health.ProbeResult(result.ok, '%s: %s' % (address, result.detail), latency), check)

    @staticmethod
    def _write(conn, key, before):
        # A key that expires on its own: the probe leaves nothing behind for long.
        reply = conn.command('SET', key, 'health_gate', 'PX', 60000)
        if reply != 'OK':
            return _health.ProbeResult(False, 'SET %s answered %s' % (key, reply))
        return _health.ProbeResult(True, '%s; SET %s accepted' % (before.detail, key))

    @staticmethod
    def _server_role(conn, check):
        try:
            reply = conn.command('ROLE')
        except _health_resp.RespError as exc:
            # ROLE can be denied by an ACL that still allows INFO; anything else is a real error.
            if exc.code not in ('NOPERM', 'ERR'):
                raise
            try:
                info = _health_resp.parse_info(conn.command('INFO', 'replication'))
            except _health_resp.RespError as denied:
                # An application user (no ROLE, no INFO) can still prove it is let in: with
                # expect_role any, an answered PING is the check.
                if denied.code != 'NOPERM' or check['expect_role'] != 'any':
                    raise
                pong = conn.command('PING')
                return _health.ProbeResult(pong == 'PONG', 'PING answered %s (this user may read neither ROLE nor INFO)' % pong)
            return _health.evaluate_redis_info(info, check['expect_role'])
        return _health.evaluate_redis_role(reply, check['expect_role'])

    @staticmethod
    def _sentinel(conn, check):
        name = check['master_name']
        try:
            ckquorum = conn.command('SENTINEL', 'CKQUORUM', name)
        except _health_resp.RespError as exc:
            ckquorum = exc
        master = _health_resp.pairs_to_dict(conn.command('SENTINEL', 'MASTER', name))
        try:
            replicas = conn.command('SENTINEL', 'REPLICAS', name)
        except _health_resp.RespError:
            replicas = conn.command('SENTINEL', 'SLAVES', name)  # Redis before 5.0
        sentinels = conn.command('SENTINEL', 'SENTINELS', name)
        return _health.evaluate_sentinel(
            name, ckquorum, master,
            replicas=[_health_resp.pairs_to_dict(entry) for entry in replicas or []],
            sentinels=[_health_resp.pairs_to_dict(entry) for entry in sentinels or []],
            min_replicas=check.get('min_replicas'), min_sentinels=check.get('min_sentinels'))
