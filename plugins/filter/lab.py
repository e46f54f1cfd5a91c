# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that shape inventory data for the local Docker lab."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.six import string_types

# hostvar name -> key of a lab_hosts_list item
_CONTAINER_KEYS = (
    ('lab_container_published_ports', 'published_ports'),
    ('lab_container_volumes', 'volumes'),
    ('lab_container_env', 'env'),
    ('lab_container_memory', 'memory'),
    ('lab_container_capabilities', 'capabilities'),
)


def lab_host_specs(hosts, hostvars):
    """Turn inventory host names into lab_hosts_list items.

    Each host becomes ``{'name': host}`` plus the container settings found in its
    ``lab_container_*`` host variables. Hosts keep their order; a name given twice is an error.
    """
    if not is_sequence(hosts) or isinstance(hosts, string_types):
        raise AnsibleFilterError('lab_host_specs: expected a list of host names, got %s' % type(hosts).__name__)
    seen = set()
    specs = []
    for host in hosts:
        if not isinstance(host, string_types) or not host:
            raise AnsibleFilterError('lab_host_specs: host names must be non-empty strings, got %r' % (host,))
        if host in seen:
            raise AnsibleFilterError('lab_host_specs: host %s is listed twice' % host)
        seen.add(host)
        hvars = hostvars.get(host, {}) if hostvars is not None else {}
        spec = {'name': host}
        for var, key in _CONTAINER_KEYS:
            value = hvars.get(var)
            if value not in (None, '', [], {}):
                spec[key] = value
        specs.append(spec)
    return specs


def lab_addresses(container_infos, network):
    """Map container name to its IPv4 address on ``network``.

    ``container_infos`` is a list of ``community.docker.docker_container_info`` results
    (registered in a loop: ``results``); containers that do not exist or are not on the
    network are left out, so the caller can tell which hosts are missing.
    """
    addresses = {}
    for result in container_infos or []:
        if not isinstance(result, dict) or not result.get('exists'):
            continue
        container = result.get('container') or {}
        name = (container.get('Name') or '').lstrip('/')
        networks = ((container.get('NetworkSettings') or {}).get('Networks') or {})
        address = (networks.get(network) or {}).get('IPAddress')
        if name and address:
            addresses[name] = address
    return addresses


class FilterModule(object):
    """Lab filters."""

    def filters(self):
        return {
            'lab_host_specs': lab_host_specs,
            'lab_addresses': lab_addresses,
        }
