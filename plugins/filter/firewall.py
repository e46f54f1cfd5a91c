# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall role's allowances checked against nftables' grammar and shaped for its template.

Every value that reaches the nftables file passes through here: ports (1-65535, ranges low-high),
protocols, source addresses (IPv4/IPv6 hosts or CIDRs, collapsed so nft never sees overlapping
intervals, which it refuses), and names (nft comments). A problem is reported by the variable and
rule it comes from, so the preflight can refuse the input before any host is touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types

_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
_PROTOS = ('tcp', 'udp')


def _port_items(ports, where):
    """(sorted list of (low, high), problems) for a rule's ``ports``."""
    items, problems = [], []
    if isinstance(ports, (string_types, int)) and not isinstance(ports, bool):
        ports = [ports]
    if not isinstance(ports, (list, tuple)) or not ports:
        return [], ['%s: ports must be a non-empty list of ports (1-65535) or "low-high" ranges' % where]
    for port in ports:
        text = to_text(port).strip() if not isinstance(port, bool) else ''
        match = re.match(r'^([0-9]{1,5})(?:-([0-9]{1,5}))?$', text)
        if not match:
            problems.append('%s: port %r is not a port (1-65535) or a "low-high" range' % (where, port))
            continue
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if not (1 <= low <= 65535 and 1 <= high <= 65535):
            problems.append('%s: port %s is outside 1-65535' % (where, text))
        elif high < low:
            problems.append('%s: range %s ends before it starts' % (where, text))
        else:
            items.append((low, high))
    return sorted(set(items)), problems


def _networks(sources, where):
    """(any?, [IPv4 networks], [IPv6 networks], problems) for a list of addresses or CIDRs."""
    if isinstance(sources, string_types):
        sources = [sources]
    if sources is None:
        sources = []
    if not isinstance(sources, (list, tuple)):
        return False, [], [], ['%s must be a list of addresses or CIDRs, or "any"' % where]
    any_source, v4, v6, problems = False, [], [], []
    for source in sources:
        text = to_text(source).strip() if isinstance(source, string_types) else ''
        if text == 'any':
            any_source = True
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            problems.append('%s: %r is not an IPv4/IPv6 address or CIDR' % (where, source))
            continue
        (v4 if network.version == 4 else v6).append(network)
    return any_source, list(ipaddress.collapse_addresses(v4)), list(ipaddress.collapse_addresses(v6)), problems


def _render_ports(items):
    return ', '.join(str(low) if low == high else '%d-%d' % (low, high) for low, high in items)


def firewall_plan(allow, admin_allowlist=None, ssh_port=22, var='firewall_allow', admin_var='firewall_admin_allowlist'):
    """Check ``allow`` and ``admin_allowlist`` and shape them for the nftables template.

    Returns ``{'rules': [...], 'admin_v4': [...], 'admin_v6': [...], 'ssh_port': int, 'problems': [...]}``.
    Each rule: ``name``, ``proto``, ``ports`` (nft set text), ``any`` (from everywhere), ``v4``, ``v6``
    (collapsed CIDR texts), ``comment``. ``problems`` names the variable and rule of each fault:
    a bad name, protocol, port or source, a duplicate name, or one port declared by two rules.
    """
    problems = []
    if allow is None:
        allow = []
    if not isinstance(allow, (list, tuple)):
        raise AnsibleFilterError('firewall_plan: %s must be a list of rules, got %s' % (var, type(allow).__name__))
    rules, owner, seen = [], {}, set()
    for index, rule in enumerate(allow):
        if not isinstance(rule, dict):
            problems.append('%s[%d] must be a mapping with name, ports, proto and from' % (var, index))
            continue
        name = to_text(rule.get('name', ''))
        where = '%s[%d] (%s)' % (var, index, name or 'no name')
        if not _NAME.match(name):
            problems.append('%s: name must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit' % where)
        elif name in seen:
            problems.append('%s: the name %s is used by another rule' % (where, name))
        seen.add(name)
        unknown = sorted(set(rule) - set(['name', 'ports', 'proto', 'from', 'comment']))
        if unknown:
            problems.append('%s: unknown key(s) %s (known: name, ports, proto, from, comment)' % (where, ', '.join(unknown)))
        proto = to_text(rule.get('proto', 'tcp')).lower()
        if proto not in _PROTOS:
            problems.append('%s: proto must be one of %s, got %r' % (where, ', '.join(_PROTOS), rule.get('proto')))
        ports, port_problems = _port_items(rule.get('ports'), where)
        problems.extend(port_problems)
        any_source, v4, v6, source_problems = _networks(rule.get('from', []), where + ' from')
        problems.extend(source_problems)
        comment = to_text(rule.get('comment', name))
        if not re.match(r'^[A-Za-z0-9 _.,:/()+-]{0,100}$', comment):
            problems.append('%s: comment may hold letters, digits, spaces and _.,:/()+- only (at most 100)' % where)
        for low, high in ports:
            for other_low, other_high, other_name in owner.get(proto, []):
                if low <= other_high and other_low <= high and other_name != name:
                    problems.append('%s: port %s/%s collides with rule %s (%s/%s); one port has one owner'
                                    % (where, _render_ports([(low, high)]), proto, other_name,
                                       _render_ports([(other_low, other_high)]), proto))
            owner.setdefault(proto, []).append((low, high, name))
        rules.append(dict(name=name, proto=proto, ports=_render_ports(ports), any=any_source,
                          v4=[str(n) for n in v4], v6=[str(n) for n in v6], comment=comment))

    dummy, admin_v4, admin_v6, admin_problems = _networks(admin_allowlist or [], admin_var)
    problems.extend(admin_problems)
    if dummy:
        problems.append('%s: "any" is not an allowlist; name the admin networks' % admin_var)
    try:
        ssh = int(ssh_port)
    except (TypeError, ValueError):
        ssh = -1
    if isinstance(ssh_port, bool) or not 0 <= ssh <= 65535:
        problems.append('firewall_ssh_port must be a port (1-65535), or 0 for no SSH allowance')
    elif ssh:
        for proto_rules in owner.get('tcp', []):
            if proto_rules[0] <= ssh <= proto_rules[1]:
                problems.append('%s: rule %s declares tcp port %d, which is firewall_ssh_port (admin allowlist only)'
                                % (var, proto_rules[2], ssh))
    return dict(rules=rules, admin_v4=[str(n) for n in admin_v4], admin_v6=[str(n) for n in admin_v6],
                ssh_port=max(ssh, 0), problems=problems)


def firewall_allows(address, networks):
    """True when ``address`` (an IP, possibly with a port after a space, as in SSH_CLIENT) is in one of ``networks``."""
    text = to_text(address or '').strip().split(' ')[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    for network in networks or []:
        try:
            if ip in ipaddress.ip_network(to_text(network), strict=False):
                return True
        except ValueError:
            continue
    return False


def _host_addresses(host, hostvars):
    """The addresses ``host`` sends from: ``firewall_address`` (one or a list), else ``ansible_host``
    when it is an IP address, else the default IPv4 and IPv6 addresses of its gathered facts."""
    hv = hostvars.get(host, {}) if hasattr(hostvars, 'get') else {}
    explicit = hv.get('firewall_address')
    if explicit:
        return [to_text(a) for a in (explicit if isinstance(explicit, (list, tuple)) else [explicit])]
    found = []
    try:
        found.append(str(ipaddress.ip_address(to_text(hv.get('ansible_host', '')).strip())))
    except ValueError:
        pass
    if not found:
        for fact in ('ansible_default_ipv4', 'ansible_default_ipv6'):
            address = (hv.get(fact) or {}).get('address')
            if address:
                found.append(to_text(address))
    return found


def firewall_declared_allow(declared, hostvars, groups, admin_allowlist=None, var='firewall_declared_ports'):
    """Turn the ports service roles declare into ``firewall_allow`` rules with source addresses.

    Each declaration (a service role's ``ports`` entry point publishes them as ``<role>_firewall_ports``):
    ``name``, ``ports``, ``proto`` (default tcp), ``role``, and who reaches it: ``from_groups`` (inventory
    groups; a group the inventory lacks reaches nothing), ``from_admin`` (the admin allowlist) and
    ``from_any`` (everywhere). A group's hosts are resolved to their addresses (``firewall_address``,
    an IP ``ansible_host``, or the default addresses of gathered network facts); a host without one
    is an error naming it, since a silent gap would cut that host off.
    """
    if declared is None:
        return []
    if not isinstance(declared, (list, tuple)):
        raise AnsibleFilterError('firewall_declared_allow: %s must be a list, got %s' % (var, type(declared).__name__))
    rules = []
    for index, item in enumerate(declared):
        if not isinstance(item, dict):
            raise AnsibleFilterError('%s[%d] must be a mapping' % (var, index))
        unknown = sorted(set(item) - set(['name', 'ports', 'proto', 'role', 'from_groups', 'from_admin', 'from_any', 'comment']))
        if unknown:
            raise AnsibleFilterError('%s[%d] (%s): unknown key(s) %s' % (var, index, item.get('name'), ', '.join(unknown)))
        sources = []
        if item.get('from_any'):
            sources.append('any')
        if item.get('from_admin'):
            sources.extend(to_text(a) for a in (admin_allowlist or []))
        for group in item.get('from_groups') or []:
            for host in (groups or {}).get(group, []):
                addresses = _host_addresses(host, hostvars)
                if not addresses:
                    raise AnsibleFilterError(
                        '%s[%d] (%s): host %s of group %s reaches this port but has no known address: set firewall_address '
                        'for it, give it an IP ansible_host, or let playbooks/firewall.yml gather its network facts'
                        % (var, index, item.get('name'), host, group))
                sources.extend(addresses)
        seen = set()
        unique = [s for s in sources if not (s in seen or seen.add(s))]
        comment = item.get('comment') or ('declared by role %s' % item['role'] if item.get('role') else item.get('name'))
        rules.append(dict(name=item.get('name'), ports=item.get('ports'), proto=item.get('proto', 'tcp'),
                          **{'from': unique, 'comment': comment}))
    return rules


class FilterModule(object):
    """Firewall filters."""

    def filters(self):
        return {
            'firewall_plan': firewall_plan,
            'firewall_allows': firewall_allows,
            'firewall_declared_allow': firewall_declared_allow,
        }
