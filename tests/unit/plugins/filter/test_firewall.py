# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""firewall_plan and firewall_allows: what reaches the nftables file, and what is refused by name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.flash.connect.plugins.filter.firewall import firewall_allows, firewall_declared_allow, firewall_plan


def plan(allow, admin=None, ssh=22):
    return firewall_plan(allow, admin or [], ssh)


def test_a_sound_rule_is_shaped_for_nft():
    result = plan([{'name': 'redis', 'ports': [26379, 6379, 6380], 'from': ['10.0.0.5', '10.0.1.0/24', 'fd00::1']}],
                  admin=['192.0.2.0/24'])
    assert result['problems'] == []
    assert result['rules'] == [{'name': 'redis', 'proto': 'tcp', 'ports': '6379, 6380, 26379', 'any': False,
                                'v4': ['10.0.0.5/32', '10.0.1.0/24'], 'v6': ['fd00::1/128'], 'comment': 'redis'}]
    assert result['admin_v4'] == ['192.0.2.0/24'] and result['admin_v6'] == [] and result['ssh_port'] == 22


def test_ranges_any_and_udp():
    result = plan([{'name': 'rabbitmq-cli', 'ports': ['35672-35682'], 'from': ['10.0.0.0/8']},
                   {'name': 'https', 'ports': [443, 80], 'from': 'any'},
                   {'name': 'dns', 'ports': [53], 'proto': 'UDP', 'from': ['any']}])
    assert result['problems'] == []
    assert [(r['name'], r['proto'], r['ports'], r['any']) for r in result['rules']] == [
        ('rabbitmq-cli', 'tcp', '35672-35682', False), ('https', 'tcp', '80, 443', True), ('dns', 'udp', '53', True)]


def test_overlapping_sources_are_collapsed_and_host_bits_dropped():
    # nft refuses conflicting intervals in one anonymous set.
    result = plan([{'name': 'app', 'ports': [8080], 'from': ['10.1.2.3/16', '10.1.0.0/16', '10.1.5.5', '10.0.0.0/8']}])
    assert result['problems'] == [] and result['rules'][0]['v4'] == ['10.0.0.0/8']


def test_a_rule_with_no_source_is_kept_but_opens_nothing():
    result = plan([{'name': 'monitoring', 'ports': [9100], 'from': []}])
    assert result['problems'] == []
    assert result['rules'][0]['v4'] == [] and result['rules'][0]['v6'] == [] and result['rules'][0]['any'] is False


@pytest.mark.parametrize('rule, fragment', [
    ({'name': 'a', 'ports': [0], 'from': 'any'}, 'port 0 is outside 1-65535'),
    ({'name': 'a', 'ports': [65536], 'from': 'any'}, 'port 65536 is outside 1-65535'),
    ({'name': 'a', 'ports': ['10-5'], 'from': 'any'}, 'range 10-5 ends before it starts'),
    ({'name': 'a', 'ports': ['22; accept'], 'from': 'any'}, "port '22; accept' is not a port"),
    ({'name': 'a', 'ports': [], 'from': 'any'}, 'ports must be a non-empty list'),
    ({'name': 'a', 'ports': [True], 'from': 'any'}, 'is not a port'),
    ({'name': 'a', 'ports': [80], 'from': ['10.0.0.300/8']}, "'10.0.0.300/8' is not an IPv4/IPv6 address or CIDR"),
    ({'name': 'a', 'ports': [80], 'from': ['10.0.0.0/8 } accept']}, 'is not an IPv4/IPv6 address or CIDR'),
    ({'name': 'a', 'ports': [80], 'proto': 'sctp', 'from': 'any'}, 'proto must be one of tcp, udp'),
    ({'name': 'a"; accept', 'ports': [80], 'from': 'any'}, 'name must be'),
    ({'name': 'a', 'ports': [80], 'from': 'any', 'comment': 'x" accept'}, 'comment may hold'),
    ({'name': 'a', 'ports': [80], 'from': 'any', 'source': ['10.0.0.1']}, 'unknown key(s) source'),
])
def test_bad_values_are_refused_naming_the_variable_and_rule(rule, fragment):
    problems = plan([rule])['problems']
    assert problems and any(fragment in p for p in problems), problems
    assert all(p.startswith('firewall_allow[0]') for p in problems)


def test_one_port_one_owner():
    problems = plan([{'name': 'redis', 'ports': [6379], 'from': 'any'},
                     {'name': 'other', 'ports': ['6000-7000'], 'from': 'any'}])['problems']
    assert problems == ['firewall_allow[1] (other): port 6000-7000/tcp collides with rule redis (6379/tcp); one port has one owner']
    # The same port over another protocol is no collision.
    assert plan([{'name': 'a', 'ports': [53], 'from': 'any'}, {'name': 'b', 'ports': [53], 'proto': 'udp', 'from': 'any'}])['problems'] == []


def test_duplicate_names_are_refused():
    problems = plan([{'name': 'a', 'ports': [1], 'from': 'any'}, {'name': 'a', 'ports': [2], 'from': 'any'}])['problems']
    assert problems == ['firewall_allow[1] (a): the name a is used by another rule']


def test_ssh_is_the_admin_allowlist_s_alone():
    problems = plan([{'name': 'a', 'ports': ['20-30'], 'from': 'any'}], ssh=22)['problems']
    assert problems == ['firewall_allow: rule a declares tcp port 22, which is firewall_ssh_port (admin allowlist only)']
    assert plan([{'name': 'a', 'ports': ['20-30'], 'from': 'any'}], ssh=0)['problems'] == []
    assert plan([], ssh=70000)['problems'] == ['firewall_ssh_port must be a port (1-65535), or 0 for no SSH allowance']


@pytest.mark.parametrize('admin, fragment', [
    (['any'], '"any" is not an allowlist'),
    (['192.0.2.0/33'], "firewall_admin_allowlist: '192.0.2.0/33' is not an IPv4/IPv6 address or CIDR"),
])
def test_bad_admin_allowlist(admin, fragment):
    problems = plan([], admin=admin)['problems']
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize('address, networks, expected', [
    ('192.0.2.7 51234 22', ['192.0.2.0/24'], True),
    ('192.0.2.7', ['198.51.100.0/24'], False),
    ('2001:db8::5 40000 22', ['2001:db8::/32'], True),
    ('', ['0.0.0.0/0'], False),
    ('not-an-ip', ['0.0.0.0/0'], False),
    ('192.0.2.7', ['garbage', '192.0.2.7'], True),
])
def test_firewall_allows(address, networks, expected):
    assert firewall_allows(address, networks) is expected


HOSTVARS = {
    'app-1': {'ansible_default_ipv4': {'address': '10.0.0.11'}, 'ansible_default_ipv6': {'address': 'fd00::11'}},
    'app-2': {'ansible_host': '10.0.0.12', 'ansible_default_ipv4': {'address': '172.17.0.2'}},
    'mon-1': {'firewall_address': ['10.0.9.1', '10.0.9.2']},
    'redis-1': {'ansible_host': 'redis-1.example.net', 'ansible_default_ipv4': {'address': '10.0.1.1'}},
}
GROUPS = {'app': ['app-1', 'app-2'], 'monitoring': ['mon-1'], 'redis': ['redis-1']}


def test_declared_groups_resolve_to_their_hosts_addresses():
    rules = firewall_declared_allow(
        [{'name': 'redis', 'role': 'redis', 'ports': [6379, 6380], 'from_groups': ['app', 'redis', 'monitoring', 'nope'],
          'from_admin': True},
         {'name': 'proxy-https', 'role': 'proxy', 'ports': [443], 'from_any': True}],
        HOSTVARS, GROUPS, ['192.0.2.0/24'])
    # An IP ansible_host wins over facts; a hostname ansible_host falls back to the facts; firewall_address
    # wins over both; a group the inventory lacks reaches nothing.
    assert rules == [
        {'name': 'redis', 'ports': [6379, 6380], 'proto': 'tcp', 'comment': 'declared by role redis',
         'from': ['192.0.2.0/24', '10.0.0.11', 'fd00::11', '10.0.0.12', '10.0.1.1', '10.0.9.1', '10.0.9.2']},
        {'name': 'proxy-https', 'ports': [443], 'proto': 'tcp', 'comment': 'declared by role proxy', 'from': ['any']}]
    assert firewall_plan(rules, ['192.0.2.0/24'], 0)['problems'] == []


def test_a_source_host_without_address_is_named():
    with pytest.raises(AnsibleFilterError, match='host app-9 of group app reaches this port but has no known address'):
        firewall_declared_allow([{'name': 'amqp', 'ports': [5672], 'from_groups': ['app']}], {'app-9': {}}, {'app': ['app-9']})


def test_an_unknown_declaration_key_is_refused():
    with pytest.raises(AnsibleFilterError, match=r'firewall_declared_ports\[0\] \(amqp\): unknown key\(s\) form'):
        firewall_declared_allow([{'name': 'amqp', 'ports': [5672], 'form': ['app']}], {}, {})


def test_two_roles_declaring_one_port_collide():
    rules = firewall_declared_allow([{'name': 'redis', 'role': 'redis', 'ports': [6379], 'from_groups': ['app']},
                                     {'name': 'other', 'role': 'other', 'ports': ['6000-6400'], 'from_groups': ['app']}],
                                    HOSTVARS, GROUPS)
    problems = firewall_plan(rules, [], 0, var='firewall_declared_ports + firewall_allow')['problems']
    assert problems == ['firewall_declared_ports + firewall_allow[1] (other): port 6000-6400/tcp collides with rule redis '
                        '(6379/tcp); one port has one owner']
