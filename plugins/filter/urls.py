# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AMQP and Redis URLs with their credentials percent-encoded (RFC 3986 userinfo), so a
password with ``@ / # ? % :`` or a space reaches the client as it is."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.urllib.parse import quote


def _text(value, name, allow_empty=True):
    if value is None:
        value = ''
    if isinstance(value, bool) or not isinstance(value, string_types + (int,)):
        raise AnsibleFilterError('%s must be a string, got %s' % (name, type(value).__name__))
    value = str(value)
    if not allow_empty and not value:
        raise AnsibleFilterError('%s must not be empty' % name)
    return value


def _port(value, name):
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError('%s=%r is not a port number' % (name, value))
    if isinstance(value, bool) or not 1 <= port <= 65535:
        raise AnsibleFilterError('%s=%r is not a port number (1-65535)' % (name, value))
    return port


def _host(value):
    host = _text(value, 'host', allow_empty=False)
    if any(c in host for c in '@/#?% \t\r\n'):
        raise AnsibleFilterError('host=%r is not a host name or address' % host)
    if ':' in host and not host.startswith('['):
        host = '[%s]' % host  # an IPv6 address
    return host


def _enc(value):
    # Nothing is left unencoded but RFC 3986 unreserved characters.
    return quote(value, safe='')


def amqp_url(host, user='', password='', port=5672, vhost='/', scheme='amqp'):
    """``amqp://user:password@host:port/vhost`` with user, password and vhost percent-encoded
    (the default vhost ``/`` becomes ``%2F``, as the AMQP URI spec wants)."""
    scheme = _text(scheme, 'scheme')
    if scheme not in ('amqp', 'amqps'):
        raise AnsibleFilterError('scheme=%r must be amqp or amqps' % scheme)
    user, password = _text(user, 'user'), _text(password, 'password')
    if password and not user:
        raise AnsibleFilterError('a password needs a user')
    userinfo = ''
    if user:
        userinfo = _enc(user) + (':' + _enc(password) if password else '') + '@'
    return '%s://%s%s:%d/%s' % (scheme, userinfo, _host(host), _port(port, 'port'), _enc(_text(vhost, 'vhost')))


def redis_url(host, password='', port=6379, db=0, username='', scheme='redis'):
    """``redis://[username]:password@host:port/db`` with the credentials percent-encoded; no user
    name (the default) authenticates Redis's ``default`` user with the password alone."""
    scheme = _text(scheme, 'scheme')
    if scheme not in ('redis', 'rediss'):
        raise AnsibleFilterError('scheme=%r must be redis or rediss' % scheme)
    try:
        db = int(db)
    except (TypeError, ValueError):
        raise AnsibleFilterError('db=%r is not a database number' % (db,))
    if isinstance(db, bool) or db < 0:
        raise AnsibleFilterError('db=%r is not a database number' % (db,))
    username, password = _text(username, 'username'), _text(password, 'password')
    userinfo = ''
    if password or username:
        userinfo = _enc(username) + (':' + _enc(password) if password else '') + '@'
    return '%s://%s%s:%d/%d' % (scheme, userinfo, _host(host), _port(port, 'port'), db)


class FilterModule(object):
    def filters(self):
        return {'amqp_url': amqp_url, 'redis_url': redis_url}
