# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the redis role: values written the way Redis reads them back, and the master election."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types

from ansible_collections.flash.connect.plugins.module_utils._redis import sds_repr


def redis_quote(value):
    """``value`` double-quoted and escaped as CONFIG REWRITE writes it (Redis's sdscatrepr)."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise AnsibleFilterError('redis_quote: expected a string or a number, got %s' % type(value).__name__)
    return sds_repr(to_text(value))


def _unique(values):
    """The values in first-seen order, each once (Ansible's ``unique``)."""
    out = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _answered(result):
    """A registered redis_info result that answered (not skipped, failed or unreachable)."""
    return (isinstance(result, dict) and result.get('reachable') is True
            and not result.get('failed') and not result.get('skipped'))


def redis_elect_masters(instances, views, bootstrap_master):
    """Decide the master of each of ``instances`` from what every host of the group sees.

    ``views`` holds one dict per host of the group: ``host`` (inventory name), ``announce`` (the
    address it announces), ``sentinel`` (the redis_info result of its Sentinel, asked with every
    instance's master_name) and ``instances`` (the redis_info results of its instances, a loop's
    ``results``: each with ``item.name``). The master is the one the Sentinels agree on (only
    those that name the instance's port), else the one the running replicas follow, else on the
    very first run the host ``bootstrap_master``. Returns, per instance name, ``host`` (inventory
    name, empty when undecided or not in the group), ``addr``, ``port``, ``source``
    (sentinel/replication/bootstrap), ``reason`` (why ``host`` is empty) and ``seen`` (the
    distinct addresses the Sentinels named).
    """
    if not isinstance(instances, list) or not isinstance(views, list):
        raise AnsibleFilterError('redis_elect_masters: expected a list of instances and a list of host views')
    for view in views:
        if not isinstance(view, dict) or not isinstance(view.get('host'), string_types):
            raise AnsibleFilterError('redis_elect_masters: each view needs a host (its inventory name), got %r' % (view,))
    out = {}
    for inst in instances:
        name, port = inst['name'], inst['port']
        seen, replica_of = [], []
        for view in views:
            sentinel = view.get('sentinel')
            if _answered(sentinel):
                addr = (sentinel.get('masters') or {}).get(inst.get('master_name', name))
                if addr and to_text(addr.get('port')) == to_text(port):
                    seen.append(to_text(addr.get('host')))
            for result in view.get('instances') or []:
                if not _answered(result) or (result.get('item') or {}).get('name') != name:
                    continue
                role = result.get('role') or {}
                if role.get('role') == 'slave':
                    replica_of.append(to_text(role.get('master_host')))
        seen, replica_of = _unique(seen), _unique(replica_of)
        reason = ''
        if len(seen) == 1:
            addr, source = seen[0], 'sentinel'
        elif len(seen) > 1:
            addr, source, reason = '', 'sentinel', 'the Sentinels disagree'
        elif len(replica_of) == 1:
            addr, source = replica_of[0], 'replication'
        elif len(replica_of) > 1:
            addr, source, reason = '', 'replication', 'replicas follow different masters'
        else:
            boot = [v for v in views if v['host'] == bootstrap_master]
            if not boot:
                raise AnsibleFilterError('redis_elect_masters: the bootstrap master %s has no view' % bootstrap_master)
            addr, source = to_text(boot[0].get('announce') or ''), 'bootstrap'
        match = [v['host'] for v in views if addr and to_text(v.get('announce') or '') == addr]
        if not reason and not match:
            reason = 'master %s is no host of the group' % addr
        out[name] = dict(host=match[0] if match else '', addr=addr, port=port, source=source, reason=reason, seen=seen)
    return out


class FilterModule(object):
    """Redis filters."""

    def filters(self):
        return {
            'redis_quote': redis_quote,
            'redis_elect_masters': redis_elect_masters,
        }
