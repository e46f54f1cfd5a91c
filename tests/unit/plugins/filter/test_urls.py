# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The URLs the clients really parse give back the credentials that went in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.flash.connect.plugins.filter.urls import amqp_url, redis_url

pika = pytest.importorskip('pika')
redis = pytest.importorskip('redis')

HOSTILE = 'p@ss/w#rd?x%41: y:z'


@pytest.mark.parametrize('user, password, vhost', [
    ('flash-app', HOSTILE, 'flash'),
    ('us@r:/#', 'plain', '/'),
    ('flash', HOSTILE + '!$&\'()*+,;=[]', 'v h/ost%'),
])
def test_amqp_url_round_trips_through_pika(user, password, vhost):
    url = amqp_url('rabbit.internal', user=user, password=password, vhost=vhost, port=5671)
    params = pika.URLParameters(url)
    assert params.host == 'rabbit.internal'
    assert params.port == 5671
    assert params.credentials.username == user
    assert params.credentials.password == password
    assert params.virtual_host == vhost


def test_amqp_url_encodes_every_reserved_character():
    url = amqp_url('127.0.0.1', user='flash', password=HOSTILE, vhost='/')
    assert url == 'amqp://flash:p%40ss%2Fw%23rd%3Fx%2541%3A%20y%3Az@127.0.0.1:5672/%2F'


def test_amqp_url_without_credentials_and_ipv6():
    assert amqp_url('::1', vhost='flash', scheme='amqps') == 'amqps://[::1]:5672/flash'


@pytest.mark.parametrize('password, username', [(HOSTILE, ''), (HOSTILE, 'fl@sh:app')])
def test_redis_url_round_trips_through_redis_py(password, username):
    url = redis_url('10.0.0.5', password=password, port=6380, db=3, username=username)
    kwargs = redis.connection.parse_url(url)
    assert kwargs['host'] == '10.0.0.5'
    assert kwargs['port'] == 6380
    assert kwargs['db'] == 3
    assert kwargs['password'] == password
    assert kwargs.get('username') in ((username or None), username)


def test_redis_url_password_only_names_no_user():
    assert redis_url('h', password='a b') == 'redis://:a%20b@h:6379/0'


@pytest.mark.parametrize('call, message', [
    (lambda: amqp_url('h@evil', user='u'), 'host'),
    (lambda: amqp_url('h', password='p'), 'needs a user'),
    (lambda: amqp_url('h', port=70000), 'port'),
    (lambda: amqp_url('h', scheme='http'), 'scheme'),
    (lambda: redis_url('h', db=-1), 'db'),
    (lambda: redis_url('', password='p'), 'host'),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
