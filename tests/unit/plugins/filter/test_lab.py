# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.flash.connect.plugins.filter.lab import FilterModule, lab_addresses, lab_host_specs


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'lab_host_specs', 'lab_addresses'}


def test_host_specs_keep_order_and_pick_container_vars():
    hostvars = {
        'lab-proxy-1': {'lab_container_published_ports': ['127.0.0.1:8443:443'], 'other': 1},
        'lab-redis-1': {'lab_container_memory': '512m', 'lab_container_env': {}},
    }
    assert lab_host_specs(['lab-redis-1', 'lab-proxy-1', 'lab-app-1'], hostvars) == [
        {'name': 'lab-redis-1', 'memory': '512m'},
        {'name': 'lab-proxy-1', 'published_ports': ['127.0.0.1:8443:443']},
        {'name': 'lab-app-1'},
    ]


@pytest.mark.parametrize('hosts, message', [
    ('lab-redis-1', 'expected a list'),
    (['a', 'a'], 'listed twice'),
    (['a', ''], 'non-empty strings'),
    ([None], 'non-empty strings'),
])
def test_host_specs_reject_bad_input(hosts, message):
    with pytest.raises(AnsibleFilterError, match=message):
        lab_host_specs(hosts, {})


def _info(name, networks, exists=True):
    return {'exists': exists, 'container': {'Name': '/' + name, 'NetworkSettings': {'Networks': networks}}}


@pytest.mark.parametrize('results, expected', [
    ([_info('a', {'flash-lab': {'IPAddress': '10.9.0.2'}})], {'a': '10.9.0.2'}),
    ([_info('a', {'bridge': {'IPAddress': '10.8.0.2'}})], {}),
    ([_info('a', {'flash-lab': {'IPAddress': '10.9.0.2'}}, exists=False)], {}),
    ([_info('a', {'flash-lab': {'IPAddress': ''}})], {}),
    ([{'exists': True}], {}),
    (None, {}),
])
def test_addresses(results, expected):
    assert lab_addresses(results, 'flash-lab') == expected
