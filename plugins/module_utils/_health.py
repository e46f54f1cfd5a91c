# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Health gate logic: check specifications, verdicts on what a service answered, and the rounds.

Private to the flash.connect collection. Everything here is pure (no sockets, no clock of
its own) so it can be tested without a network; the probes that talk to services live in
``_health_probes``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import traceback

try:
    import jmespath
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError:
    jmespath = None
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()


CHECK_TYPES = ('http', 'tcp', 'redis', 'rabbitmq', 'prometheus')
REDIS_ROLES = ('master', 'replica', 'any')

# Per check option: the types it applies to. Anything set for another type is a mistake
# in the gate (a ``url`` on a tcp check is never used), so it is refused, not ignored.
COMMON_FIELDS = ('name', 'type', 'timeout')
TYPE_FIELDS = {
    'http': ('url', 'method', 'headers', 'body', 'json', 'status', 'expect_headers', 'json_query', 'expect', 'max_latency_ms',
             'validate_certs', 'ca_path', 'use_proxy', 'username', 'password', 'requests', 'max_error_rate'),
    'tcp': ('host', 'port', 'max_latency_ms'),
    'redis': ('host', 'port', 'username', 'password', 'tls', 'validate_certs', 'ca_path', 'expect_role',
              'sentinel', 'master_name', 'min_replicas', 'min_sentinels', 'max_latency_ms', 'write_key'),
    'rabbitmq': ('url', 'username', 'password', 'validate_certs', 'ca_path', 'use_proxy', 'min_running_nodes', 'vhost'),
    'prometheus': ('url', 'labels', 'headers', 'username', 'password', 'validate_certs', 'ca_path', 'use_proxy'),
}
SENTINEL_ONLY_FIELDS = ('master_name', 'min_replicas', 'min_sentinels')
AMQP_PORTS = {'amqp': 5672, 'amqps': 5671}
_AMQP_URL_RE = re.compile(r'^(amqps?)://([^/:@\s\[\]]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?/?$')
REQUIRED_FIELDS = {
    'http': ('url',),
    'tcp': ('host', 'port'),
    'redis': ('host',),
    'rabbitmq': ('url',),
    'prometheus': ('url',),
}
TYPE_DEFAULTS = {
    'http': {'method': 'GET', 'headers': {}, 'expect_headers': {}, 'status': [200], 'validate_certs': True, 'use_proxy': True,
             'requests': 1, 'max_error_rate': 0.0},
    'tcp': {},
    'redis': {'tls': False, 'validate_certs': True, 'expect_role': 'any', 'sentinel': False},
    'rabbitmq': {'validate_certs': True, 'use_proxy': True},
    'prometheus': {'labels': {}, 'headers': {}, 'validate_certs': True, 'use_proxy': True},
}
DEFAULT_CHECK_TIMEOUT = 5.0
REDIS_PORT = 6379
SENTINEL_PORT = 26379
MAX_REQUESTS_PER_ROUND = 1000
_METHOD_RE = re.compile(r'^[A-Z]+$')
_URL_USERINFO_RE = re.compile(r'^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@')


class HealthSpecError(Exception):
    """The list of checks given to the gate is wrong; the message names each check and field at fault."""


class ProbeResult(object):
    """What one probe of one check found: a verdict, a one-line detail and the figures it measured."""

    __slots__ = ('ok', 'detail', 'latency_ms', 'error_rate')

    def __init__(self, ok, detail, latency_ms=None, error_rate=None):
        self.ok = bool(ok)
        self.detail = detail
        self.latency_ms = None if latency_ms is None else round(float(latency_ms), 1)
        self.error_rate = None if error_rate is None else round(float(error_rate), 4)

    def __repr__(self):
        return 'ProbeResult(ok=%r, detail=%r)' % (self.ok, self.detail)


def redact_url(url):
    """Drop ``user:password@`` from a URL so it can go into a report."""
    return _URL_USERINFO_RE.sub(r'\1', url or '')


# --------------------------------------------------------------------------------------------
# Check specifications
# --------------------------------------------------------------------------------------------

def _label(check, index):
    name = check.get('name') if isinstance(check, dict) else None
    if isinstance(name, str) and name:
        return "check '%s' (checks[%d])" % (name, index)
    return 'checks[%d]' % index


def _is_set(value):
    return value is not None


def _number(value, field, errors, label, minimum=None, maximum=None, integer=False, exclusive_minimum=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append('%s: %s must be a number, got %r' % (label, field, value))
        return None
    if integer and int(value) != value:
        errors.append('%s: %s must be a whole number, got %r' % (label, field, value))
        return None
    if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
        errors.append('%s: %s must be %s %s, got %r' % (label, field, 'above' if exclusive_minimum else 'at least', minimum, value))
        return None
    if maximum is not None and value > maximum:
        errors.append('%s: %s must be at most %s, got %r' % (label, field, maximum, value))
        return None
    return int(value) if integer else value


def _check_url(value, field, errors, label):
    if not isinstance(value, str) or not re.match(r'^https?://[^/]', value):
        errors.append('%s: %s must be an http:// or https:// URL, got %r' % (label, field, redact_url(str(value))))
        return False
    return True


def _validate_http(check, errors, label, compile_query):
    _check_url(check['url'], 'url', errors, label)
    method = check['method']
    if not isinstance(method, str) or not _METHOD_RE.match(method.upper()):
        errors.append('%s: method must be an HTTP method such as GET, got %r' % (label, method))
    else:
        check['method'] = method.upper()
    if _is_set(check.get('body')) and _is_set(check.get('json')):
        errors.append('%s: body and json are mutually exclusive' % label)
    status = check['status']
    if not isinstance(status, list) or not status:
        errors.append('%s: status must be a non-empty list of HTTP status codes' % label)
    else:
        for code in status:
            if _number(code, 'status', errors, label, minimum=100, maximum=599, integer=True) is None:
                break
        else:
            check['status'] = sorted(set(int(code) for code in status))
    expect_headers = check.get('expect_headers')
    if not isinstance(expect_headers, dict) or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) for k, v in expect_headers.items()):
        errors.append('%s: expect_headers must map response header names to the exact values expected' % label)
    else:
        # Header names compare case-insensitively (evaluate_http); messages keep them as given.
        check['expect_headers'] = dict((k.strip(), v) for k, v in expect_headers.items())
    if _is_set(check.get('expect')) and not _is_set(check.get('json_query')):
        errors.append('%s: expect needs json_query' % label)
    if _is_set(check.get('json_query')):
        query = check['json_query']
        if not isinstance(query, str) or not query.strip():
            errors.append('%s: json_query must be a non-empty JMESPath expression' % label)
        elif compile_query is not None:
            try:
                check['_query'] = compile_query(query)
            except Exception as exc:
                errors.append('%s: json_query is not a valid JMESPath expression: %s' % (label, exc))
    requests = _number(check['requests'], 'requests', errors, label, minimum=1, maximum=MAX_REQUESTS_PER_ROUND, integer=True)
    if requests is not None:
        check['requests'] = requests
    rate = _number(check['max_error_rate'], 'max_error_rate', errors, label, minimum=0.0, maximum=1.0)
    if rate is not None:
        check['max_error_rate'] = float(rate)
        if rate >= 1.0:
            errors.append('%s: max_error_rate 1.0 would pass with every request failing' % label)


def _validate_port(check, errors, label):
    port = _number(check['port'], 'port', errors, label, minimum=1, maximum=65535, integer=True)
    if port is not None:
        check['port'] = port


def _validate_host(check, errors, label):
    host = check['host']
    if not isinstance(host, str) or not host.strip() or '/' in host:
        errors.append('%s: host must be a host name or address, got %r' % (label, host))


def _validate_redis(check, errors, label):
    _validate_host(check, errors, label)
    if check['sentinel']:
        if check.get('expect_role') not in (None, 'any'):
            errors.append('%s: expect_role applies to a Redis server, not to a Sentinel (sentinel: true)' % label)
        if _is_set(check.get('write_key')):
            errors.append('%s: write_key applies to a Redis server, not to a Sentinel (sentinel: true)' % label)
        if not isinstance(check.get('master_name'), str) or not check['master_name']:
            errors.append('%s: master_name is required with sentinel: true' % label)
        for field in ('min_replicas', 'min_sentinels'):
            if _is_set(check.get(field)):
                value = _number(check[field], field, errors, label, minimum=0 if field == 'min_replicas' else 1, integer=True)
                if value is not None:
                    check[field] = value
        if check.get('port') is None:
            check['port'] = SENTINEL_PORT
    else:
        for field in SENTINEL_ONLY_FIELDS:
            if _is_set(check.get(field)):
                errors.append('%s: %s applies only with sentinel: true' % (label, field))
        key = check.get('write_key')
        if _is_set(key) and (not isinstance(key, str) or not re.match(r'^[^\s]{1,512}$', key)):
            errors.append('%s: write_key must be a Redis key without spaces' % label)
        if check['expect_role'] not in REDIS_ROLES:
            errors.append('%s: expect_role must be one of %s, got %r' % (label, ', '.join(REDIS_ROLES), check['expect_role']))
        if check.get('port') is None:
            check['port'] = REDIS_PORT
    _validate_port(check, errors, label)
    if _is_set(check.get('username')) and not _is_set(check.get('password')):
        errors.append('%s: username needs password' % label)
    if not check['tls'] and _is_set(check.get('ca_path')):
        errors.append('%s: ca_path applies only with tls: true' % label)


def _validate_rabbitmq(check, errors, label):
    url = check['url']
    amqp = _AMQP_URL_RE.match(url) if isinstance(url, str) else None
    if isinstance(url, str) and url.startswith('amqp'):
        # An AMQP login (the app's own way in): host and port from the URL, the credentials and
        # vhost from their options, never from the URL.
        if not amqp:
            errors.append('%s: url must be amqp://host[:port] or amqps://host[:port] with nothing else '
                          '(user, password and vhost go in their options), got %r' % (label, redact_url(url)))
        else:
            check['_amqp'] = {'tls': amqp.group(1) == 'amqps', 'host': amqp.group(2).strip('[]'),
                              'port': int(amqp.group(3) or AMQP_PORTS[amqp.group(1)])}
            if not 1 <= check['_amqp']['port'] <= 65535:
                errors.append('%s: the port of url must be 1-65535' % label)
        if not isinstance(check.get('username'), str) or not check.get('username') or check.get('password') is None:
            errors.append('%s: an AMQP login needs username and password' % label)
        if _is_set(check.get('min_running_nodes')):
            errors.append('%s: min_running_nodes needs the management API (an http(s) url)' % label)
        if not _is_set(check.get('vhost')):
            check['vhost'] = '/'
    else:
        _check_url(url, 'url', errors, label)
    if _is_set(check.get('min_running_nodes')):
        value = _number(check['min_running_nodes'], 'min_running_nodes', errors, label, minimum=1, integer=True)
        if value is not None:
            check['min_running_nodes'] = value
    if _is_set(check.get('vhost')) and (not isinstance(check['vhost'], str) or not check['vhost']):
        errors.append('%s: vhost must be a non-empty string' % label)


def _validate_prometheus(check, errors, label):
    _check_url(check['url'], 'url', errors, label)
    labels = check['labels']
    if not isinstance(labels, dict):
        errors.append('%s: labels must be a dict of label names to values' % label)
    else:
        check['labels'] = dict((str(key), str(value)) for key, value in labels.items())


def normalize_checks(checks, compile_query=None):
    """Validate the checks given to the gate and return copies with the defaults of their type.

    ``checks`` is the list of dicts the user wrote (options not given may be absent or None).
    Raises HealthSpecError naming every check and field at fault. ``compile_query`` (for
    example ``jmespath.compile``) is used to compile ``json_query`` up front; the compiled
    expression is kept under the private key ``_query``.
    """
    if not isinstance(checks, list) or not checks:
        raise HealthSpecError('checks must be a non-empty list of checks')
    errors = []
    normalized = []
    seen = {}
    for index, raw in enumerate(checks):
        label = _label(raw, index)
        if not isinstance(raw, dict):
            errors.append('%s: each check must be a dict, got %s' % (label, type(raw).__name__))
            continue
        name = raw.get('name')
        if not isinstance(name, str) or not name.strip():
            errors.append('%s: name is required (a non-empty string)' % label)
        elif name in seen:
            errors.append("%s: name '%s' is already used by checks[%d]; names must be unique" % (label, name, seen[name]))
        else:
            seen[name] = index
        kind = raw.get('type')
        if kind not in CHECK_TYPES:
            errors.append('%s: type must be one of %s, got %r' % (label, ', '.join(CHECK_TYPES), kind))
            continue
        allowed = COMMON_FIELDS + TYPE_FIELDS[kind]
        unknown = sorted(key for key, value in raw.items() if key not in allowed and _is_set(value))
        for key in unknown:
            errors.append('%s: %s does not apply to type %s (it takes %s)' % (label, key, kind, ', '.join(sorted(TYPE_FIELDS[kind]))))
        missing = [field for field in REQUIRED_FIELDS[kind] if not _is_set(raw.get(field))]
        for field in missing:
            errors.append('%s: %s is required for type %s' % (label, field, kind))
        if unknown or missing:
            continue
        check = dict((key, raw.get(key)) for key in allowed)
        for key, value in TYPE_DEFAULTS[kind].items():
            if check.get(key) is None:
                check[key] = list(value) if isinstance(value, list) else (dict(value) if isinstance(value, dict) else value)
        if check.get('timeout') is None:
            check['timeout'] = DEFAULT_CHECK_TIMEOUT
        _number(check['timeout'], 'timeout', errors, label, minimum=0, exclusive_minimum=True)
        if _is_set(check.get('max_latency_ms')):
            _number(check['max_latency_ms'], 'max_latency_ms', errors, label, minimum=0, exclusive_minimum=True)
        if kind == 'http':
            _validate_http(check, errors, label, compile_query)
        elif kind == 'tcp':
            _validate_host(check, errors, label)
            _validate_port(check, errors, label)
        elif kind == 'redis':
            _validate_redis(check, errors, label)
        elif kind == 'rabbitmq':
            _validate_rabbitmq(check, errors, label)
        else:
            _validate_prometheus(check, errors, label)
        normalized.append(check)
    if errors:
        raise HealthSpecError('invalid health checks: ' + '; '.join(errors))
    return normalized


def compile_jmespath(expression):
    """Compile a JMESPath expression (needs HAS_JMESPATH); the result has ``.search(document)``."""
    return jmespath.compile(expression)


def uses_json_query(checks):
    """True when any raw check asks for a JMESPath expression (then jmespath is needed)."""
    return any(isinstance(check, dict) and check.get('type') == 'http' and _is_set(check.get('json_query')) for check in checks or [])


# --------------------------------------------------------------------------------------------
# Verdicts on what a service answered
# --------------------------------------------------------------------------------------------

def jmespath_truthy(value):
    """Truth in the JMESPath sense: null, false and empty strings, lists and objects are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def same_value(left, right):
    """Equality as JSON sees it: true is not 1, 1 is 1.0, containers compare item by item."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, dict) and isinstance(right, dict):
        return set(left) == set(right) and all(same_value(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same_value(a, b) for a, b in zip(left, right))
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    return type(left) is type(right) and left == right


def _short(value, limit=80):
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def evaluate_http(status, body, latency_ms, check, search=None, headers=None):
    """Verdict on one HTTP answer: accepted status, expected response headers, JMESPath query over
    the JSON body, latency ceiling. ``headers``: the response's headers (any case of names)."""
    accepted = check.get('status') or [200]
    if status not in accepted:
        return ProbeResult(False, 'HTTP %s (accepted: %s)' % (status, ', '.join(str(code) for code in accepted)), latency_ms)
    expected = check.get('expect_headers') or {}
    if expected:
        got = dict((str(k).lower(), str(v)) for k, v in (headers or {}).items())
        for name in sorted(expected):
            key = name.lower()
            if key not in got:
                return ProbeResult(False, 'HTTP %s without the header %s (expected %s)' % (status, name, _short(expected[name])), latency_ms)
            if got[key] != expected[name]:
                return ProbeResult(False, 'HTTP %s with %s: %s, expected %s' % (status, name, _short(got[key]), _short(expected[name])),
                                   latency_ms)
    query = check.get('json_query')
    if query:
        text = body.decode('utf-8', 'replace') if isinstance(body, bytes) else (body or '')
        try:
            document = json.loads(text)
        except ValueError:
            return ProbeResult(False, 'HTTP %s but the body is not JSON, so json_query cannot be evaluated' % status, latency_ms)
        compiled = check.get('_query')
        try:
            if compiled is not None:
                found = compiled.search(document)
            elif search is not None:
                found = search(query, document)
            else:
                raise ValueError('no JMESPath implementation available')
        except Exception as exc:
            return ProbeResult(False, 'json_query %s failed: %s' % (query, exc), latency_ms)
        expect = check.get('expect')
        if expect is not None:
            if not same_value(found, expect):
                return ProbeResult(False, 'json_query %s gave %s, expected %s' % (query, _short(found), _short(expect)), latency_ms)
        elif not jmespath_truthy(found):
            return ProbeResult(False, 'json_query %s gave %s, which is not true' % (query, _short(found)), latency_ms)
    ceiling = check.get('max_latency_ms')
    if ceiling is not None and latency_ms is not None and latency_ms > ceiling:
        return ProbeResult(False, 'HTTP %s in %.1f ms, above max_latency_ms %s' % (status, latency_ms, ceiling), latency_ms)
    return ProbeResult(True, 'HTTP %s in %.1f ms' % (status, latency_ms or 0.0), latency_ms)


def evaluate_window(results, max_error_rate):
    """Verdict on a round of N requests: passes when the failed share is at most ``max_error_rate``.

    ``latency_ms`` of the verdict is the slowest request of the round.
    """
    if not results:
        return ProbeResult(False, 'no request was made')
    failed = [result for result in results if not result.ok]
    rate = len(failed) / float(len(results))
    latencies = [result.latency_ms for result in results if result.latency_ms is not None]
    slowest = max(latencies) if latencies else None
    if len(results) == 1:
        return ProbeResult(results[0].ok, results[0].detail, slowest, rate)
    # Compare counts, not floats: 1 failure in 10 at max_error_rate 0.1 passes.
    allowed = int(max_error_rate * len(results) + 1e-9)
    summary = '%d/%d requests failed (%.1f%%, at most %.1f%% allowed)' % (len(failed), len(results), rate * 100, max_error_rate * 100)
    if len(failed) <= allowed:
        detail = summary if failed else '%d/%d requests passed, slowest %.1f ms' % (len(results), len(results), slowest or 0.0)
        if failed:
            detail += '; last failure: %s' % failed[-1].detail
        return ProbeResult(True, detail, slowest, rate)
    return ProbeResult(False, '%s; last failure: %s' % (summary, failed[-1].detail), slowest, rate)


def evaluate_latency(result, check):
    """Apply ``max_latency_ms`` to a passing tcp or redis probe."""
    ceiling = check.get('max_latency_ms')
    if result.ok and ceiling is not None and result.latency_ms is not None and result.latency_ms > ceiling:
        return ProbeResult(False, '%s, but %.1f ms is above max_latency_ms %s' % (result.detail, result.latency_ms, ceiling),
                           result.latency_ms, result.error_rate)
    return result


def evaluate_redis_role(reply, expect_role):
    """Verdict on the reply to ``ROLE``: the role asked for, and a replica whose link to its master is up."""
    if not isinstance(reply, list) or not reply:
        return ProbeResult(False, 'unexpected ROLE reply: %s' % _short(reply))
    role = str(reply[0])
    if role == 'master':
        replicas = reply[2] if len(reply) > 2 and isinstance(reply[2], list) else []
        detail = 'role master with %d connected replica%s' % (len(replicas), '' if len(replicas) == 1 else 's')
        if expect_role == 'replica':
            return ProbeResult(False, detail + ', expected replica')
        return ProbeResult(True, detail)
    if role in ('slave', 'replica'):
        master = '%s:%s' % (reply[1], reply[2]) if len(reply) > 2 else '?'
        state = str(reply[3]) if len(reply) > 3 else 'unknown'
        return _replica_verdict(master, state, expect_role)
    if role == 'sentinel':
        return ProbeResult(False, 'this is a Sentinel, not a Redis server; set sentinel: true to check a Sentinel')
    return ProbeResult(False, 'unknown role %r' % role)


def _replica_verdict(master, state, expect_role):
    detail = 'role replica of %s, link %s' % (master, state)
    if expect_role == 'master':
        return ProbeResult(False, detail + ', expected master')
    if state != 'connected':
        return ProbeResult(False, detail + ' (not in sync with its master)')
    return ProbeResult(True, detail)


def evaluate_redis_info(fields, expect_role):
    """Same verdict as evaluate_redis_role, from ``INFO replication`` (for users without ROLE)."""
    role = fields.get('role')
    if role == 'master':
        return evaluate_redis_role(['master', 0, [None] * _int(fields.get('connected_slaves'))], expect_role)
    if role in ('slave', 'replica'):
        link = fields.get('master_link_status', 'unknown')
        state = 'connected' if link == 'up' else 'link %s' % link
        return _replica_verdict('%s:%s' % (fields.get('master_host', '?'), fields.get('master_port', '?')), state, expect_role)
    return ProbeResult(False, 'INFO replication has no usable role: %r' % role)


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


_DOWN_FLAGS = ('s_down', 'o_down', 'disconnected')


def _flags(entry):
    return [flag for flag in str(entry.get('flags', '')).split(',') if flag]


def healthy_sentinel_peers(entries):
    """Entries (dicts from SENTINEL REPLICAS/SENTINELS) not flagged down or disconnected."""
    return [entry for entry in entries if not any(flag in _DOWN_FLAGS for flag in _flags(entry))]


def evaluate_sentinel(master_name, ckquorum, master, replicas=None, sentinels=None, min_replicas=None, min_sentinels=None):
    """Verdict on what a Sentinel says about ``master_name``.

    ``ckquorum`` is the reply to SENTINEL CKQUORUM (a string, or a RespError), ``master`` the
    dict from SENTINEL MASTER, ``replicas``/``sentinels`` lists of dicts from SENTINEL
    REPLICAS/SENTINELS (the latter lists the other Sentinels, so the one asked is counted too).
    """
    problems = []
    if isinstance(ckquorum, Exception):
        problems.append('CKQUORUM: %s' % ckquorum)
    elif not str(ckquorum).startswith('OK'):
        problems.append('CKQUORUM: %s' % ckquorum)
    master = master or {}
    master_flags = _flags(master)
    address = '%s:%s' % (master.get('ip', '?'), master.get('port', '?'))
    if any(flag in ('s_down', 'o_down') for flag in master_flags):
        problems.append('master %s is flagged %s' % (address, ','.join(master_flags)))
    parts = ['master %s %s' % (master_name, address)]
    if replicas is not None:
        good = len(healthy_sentinel_peers(replicas))
        parts.append('%d/%d replicas up' % (good, len(replicas)))
        if min_replicas is not None and good < min_replicas:
            problems.append('%d healthy replicas, fewer than min_replicas %d' % (good, min_replicas))
    if sentinels is not None:
        good = len(healthy_sentinel_peers(sentinels)) + 1
        parts.append('%d/%d sentinels up' % (good, len(sentinels) + 1))
        if min_sentinels is not None and good < min_sentinels:
            problems.append('%d healthy sentinels, fewer than min_sentinels %d' % (good, min_sentinels))
    summary = ', '.join(parts)
    if problems:
        return ProbeResult(False, '%s: %s' % (summary, '; '.join(problems)))
    return ProbeResult(True, 'quorum OK, %s' % summary)


def evaluate_rabbitmq_nodes(nodes, min_running_nodes=None):
    """Verdict on ``GET /api/nodes``: enough running nodes, no memory/disk alarm, no partition."""
    if not isinstance(nodes, list) or not nodes:
        return ProbeResult(False, '/api/nodes returned no nodes')
    problems = []
    running = [node for node in nodes if isinstance(node, dict) and node.get('running') is True]
    stopped = sorted(str(node.get('name', '?')) for node in nodes if isinstance(node, dict) and node.get('running') is not True)
    wanted = len(nodes) if min_running_nodes is None else min_running_nodes
    if len(running) < wanted:
        problems.append('%d/%d nodes running, %d required (not running: %s)' % (len(running), len(nodes), wanted, ', '.join(stopped) or '-'))
    for node in running:
        name = str(node.get('name', '?'))
        alarms = [alarm for alarm in ('mem_alarm', 'disk_free_alarm') if node.get(alarm)]
        if alarms:
            problems.append('%s has %s' % (name, ' and '.join(alarms)))
        if node.get('partitions'):
            problems.append('%s is partitioned from %s' % (name, ', '.join(str(peer) for peer in node['partitions'])))
    if problems:
        return ProbeResult(False, '; '.join(problems))
    return ProbeResult(True, '%d/%d nodes running, no alarms' % (len(running), len(nodes)))


def evaluate_rabbitmq_vhost(vhost, health_status, health_body, vhost_status, vhost_body):
    """Verdict on the virtual-host health check and on ``GET /api/vhosts/<vhost>``."""
    if health_status != 200:
        reason = health_body.get('reason') if isinstance(health_body, dict) else None
        return ProbeResult(False, 'virtual-host health check answered HTTP %s%s' % (health_status, ': %s' % reason if reason else ''))
    if vhost_status == 404:
        return ProbeResult(False, "vhost '%s' does not exist" % vhost)
    if vhost_status != 200 or not isinstance(vhost_body, dict):
        return ProbeResult(False, "vhost '%s' lookup answered HTTP %s" % (vhost, vhost_status))
    states = vhost_body.get('cluster_state') or {}
    down = sorted('%s=%s' % (node, state) for node, state in states.items() if state != 'running')
    if down:
        return ProbeResult(False, "vhost '%s' is not running everywhere: %s" % (vhost, ', '.join(down)))
    return ProbeResult(True, "vhost '%s' running on %d node%s" % (vhost, len(states), '' if len(states) == 1 else 's'))


def matching_firing_alerts(payload, labels):
    """Firing alerts of a ``GET /api/v1/alerts`` payload whose labels include all of ``labels``."""
    alerts = ((payload or {}).get('data') or {}).get('alerts') or []
    found = []
    for alert in alerts:
        if not isinstance(alert, dict) or alert.get('state') != 'firing':
            continue
        alert_labels = alert.get('labels') or {}
        if all(str(alert_labels.get(key)) == value and key in alert_labels for key, value in (labels or {}).items()):
            found.append(alert)
    return found


def evaluate_prometheus(payload, labels):
    """Verdict on ``GET /api/v1/alerts``: fails while any firing alert matches all ``labels``."""
    if not isinstance(payload, dict) or payload.get('status') != 'success':
        return ProbeResult(False, 'Prometheus answered %s' % _short(payload))
    firing = matching_firing_alerts(payload, labels)
    scope = ' matching %s' % _short(labels) if labels else ''
    if firing:
        names = sorted(set(str((alert.get('labels') or {}).get('alertname', '?')) for alert in firing))
        return ProbeResult(False, '%d firing alert%s%s: %s' % (len(firing), '' if len(firing) == 1 else 's', scope, ', '.join(names)))
    return ProbeResult(True, 'no firing alert%s' % scope)


# --------------------------------------------------------------------------------------------
# Rounds
# --------------------------------------------------------------------------------------------

class CheckState(object):
    """Running tally of one check across rounds."""

    def __init__(self, check):
        self.check = check
        self.attempts = 0
        self.consecutive = 0
        self.last = None

    def record(self, result):
        self.attempts += 1
        self.last = result
        self.consecutive = self.consecutive + 1 if result.ok else 0

    def passed(self, required_successes):
        return self.consecutive >= required_successes

    def report(self, required_successes):
        last = self.last
        return {
            'name': self.check['name'],
            'type': self.check['type'],
            'passed': self.passed(required_successes),
            'attempts': self.attempts,
            'consecutive_successes': self.consecutive,
            'last_detail': last.detail if last is not None else 'not attempted',
            'latency_ms': last.latency_ms if last is not None else None,
            'error_rate': last.error_rate if last is not None else None,
        }


# Never give a probe less than this, even at the very end of the budget: a check that is
# attempted gets a fair chance to answer.
MIN_PROBE_TIMEOUT = 0.5


def run_gate(checks, probe, timeout, interval, required_successes, clock, sleep):
    """Run rounds of checks until each has passed ``required_successes`` rounds in a row, or the budget is spent.

    ``probe(check, remaining)`` returns a ProbeResult; ``remaining()`` gives the seconds left
    in the budget so a probe can bound its own timeouts. With ``required_successes`` 1 a
    round runs only the checks still failing; above 1 every round runs every check, so a
    check that fails again loses its streak. The first round runs every check whatever the
    budget; no round starts once the budget is spent.

    Returns a dict with ``passed``, ``elapsed``, ``rounds`` and ``checks`` (per-check reports).
    """
    start = clock()
    deadline = start + timeout
    states = [CheckState(check) for check in checks]
    rounds = 0

    def remaining():
        return max(MIN_PROBE_TIMEOUT, deadline - clock())

    while True:
        rounds += 1
        for state in states:
            if required_successes == 1 and state.passed(1):
                continue
            if state.attempts and clock() >= deadline:
                continue
            try:
                result = probe(state.check, remaining)
            except Exception as exc:  # a probe bug must not hide the other checks' results
                result = ProbeResult(False, 'probe error: %s: %s' % (type(exc).__name__, exc))
            state.record(result)
        if all(state.passed(required_successes) for state in states):
            break
        if clock() + interval >= deadline:
            break
        sleep(interval)
    reports = [state.report(required_successes) for state in states]
    return {
        'passed': all(report['passed'] for report in reports),
        'elapsed': round(clock() - start, 3),
        'rounds': rounds,
        'checks': reports,
    }


def failure_message(result, timeout, required_successes=1):
    """One message naming every failing check with its last detail."""
    failing = [report for report in result['checks'] if not report['passed']]
    parts = []
    for report in failing:
        detail = report['last_detail']
        if report['consecutive_successes']:
            # Passing now, but not for enough rounds in a row yet.
            detail = 'passed %d round%s in a row, %d required; last: %s' % (
                report['consecutive_successes'], '' if report['consecutive_successes'] == 1 else 's', required_successes, detail)
        parts.append('%s (%s): %s' % (report['name'], report['type'], detail))
    return 'Health gate failed: %d of %d check%s not passing after %d round%s in %.1fs (budget %ss): %s' % (
        len(failing), len(result['checks']), '' if len(result['checks']) == 1 else 's',
        result['rounds'], '' if result['rounds'] == 1 else 's', result['elapsed'], timeout, '; '.join(parts))
