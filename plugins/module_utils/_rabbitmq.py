# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private helpers for the flash.connect RabbitMQ modules (not a public API)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re


class RabbitmqCtlError(Exception):
    """A rabbitmqctl call failed or answered something that is not what was asked for."""

    def __init__(self, msg, rc=None, stdout='', stderr=''):
        super(RabbitmqCtlError, self).__init__(msg)
        self.msg = msg
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


def parse_json_output(text):
    """Parse the output of a C(--formatter json) call.

    rabbitmqctl may print a banner line before the document on some versions, so the parse
    starts at the first C({) or C([).
    """
    text = (text or '').strip()
    starts = [i for i in (text.find('{'), text.find('[')) if i >= 0]
    if not starts:
        raise ValueError('no JSON document in output: %r' % text[:200])
    return json.loads(text[min(starts):])


def members(status):
    """Sorted names of all nodes (disc and RAM) in a cluster_status document."""
    return sorted(set(status.get('disk_nodes', []) or []) | set(status.get('ram_nodes', []) or []))


def running(status):
    return sorted(status.get('running_nodes', []) or [])


class RabbitmqCtl(object):
    """Thin wrapper over rabbitmqctl / rabbitmq-queues through AnsibleModule.run_command."""

    def __init__(self, module, timeout=60):
        self.module = module
        self.timeout = timeout
        self.ctl = module.get_bin_path('rabbitmqctl', required=True)
        self.queues = module.get_bin_path('rabbitmq-queues', required=False)

    def run(self, node, args, binary=None, check=True):
        cmd = [binary or self.ctl, '-q', '-n', node, '--timeout', str(self.timeout)] + list(args)
        rc, out, err = self.module.run_command(cmd)
        if check and rc != 0:
            raise RabbitmqCtlError(
                '%s failed (rc=%s): %s' % (' '.join(cmd[:1] + cmd[2:4] + list(args)), rc, (err or out).strip()),
                rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def run_json(self, node, args):
        rc, out, err = self.run(node, list(args) + ['--formatter', 'json'])
        try:
            return parse_json_output(out)
        except ValueError as e:
            raise RabbitmqCtlError('could not parse the output of rabbitmqctl %s on %s: %s'
                                   % (' '.join(args), node, e), rc=rc, stdout=out, stderr=err)

    def cluster_status(self, node):
        return self.run_json(node, ['cluster_status'])

    def data_summary(self, node):
        """What the node holds that a reset would destroy: vhosts besides C(/) and queues."""
        vhosts = [v['name'] for v in self.run_json(node, ['list_vhosts', 'name'])]
        queues = []
        for vhost in vhosts:
            for q in self.run_json(node, ['list_queues', '-p', vhost, 'name', 'messages']):
                queues.append({'vhost': vhost, 'name': q.get('name'), 'messages': q.get('messages')})
        return {'vhosts': sorted(v for v in vhosts if v != '/'), 'queues': queues}


# --- Preflight grammar (rabbitmq_validate) -------------------------------------------------

_NODE_RE = re.compile(r'^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+$')
_ENV_FORBIDDEN = '"\\$`'


def check_grammar(value, grammar):
    """Return why VALUE cannot be written where GRAMMAR says, or None when it can.

    conf: a rabbitmq.conf (cuttlefish) value, one token on one line.
    env:  inside double quotes in rabbitmq-env.conf, which the start scripts source with sh.
    node: an Erlang node name, name@host.
    name: a vhost, user, queue or exchange name (printable, one line).
    """
    if value is None:
        return 'is missing'
    text = str(value)
    if '\n' in text or '\r' in text or '\x00' in text:
        return 'contains a newline or NUL, which would start a new setting (%r)' % text
    if grammar == 'conf':
        if text != text.strip() or not text:
            return 'is empty or has leading/trailing blanks (%r)' % text
        if '#' in text or '"' in text or "'" in text:
            return 'contains # or a quote, which rabbitmq.conf reads as a comment or a literal (%r)' % text
        return None
    if grammar == 'env':
        bad = sorted(set(c for c in text if c in _ENV_FORBIDDEN))
        if bad:
            return ('contains %s, which the shell that sources rabbitmq-env.conf would interpret (%r)'
                    % (' '.join(bad), text))
        return None
    if grammar == 'node':
        if not _NODE_RE.match(text):
            return 'is not an Erlang node name name@host (letters, digits, _ . -) (%r)' % text
        return None
    if grammar == 'name':
        if not text or any(ord(c) < 32 for c in text):
            return 'is empty or has control characters (%r)' % text
        return None
    return 'unknown grammar %r' % grammar


def check_policies(policies, queues):
    """Compile each policy pattern and match it against the declared queues of its vhost.

    Returns (errors, matches): errors name the policy's variable; matches maps vhost/name to the
    queue names the pattern matches. A policy applying to exchanges only is not matched to queues.
    """
    errors, matches = [], {}
    for policy in policies:
        var = policy.get('var', 'rabbitmq_policies')
        name = policy.get('name', '?')
        vhost = policy.get('vhost')
        pattern = policy.get('pattern')
        label = '%s (%s/%s)' % (var, vhost, name)
        if not isinstance(pattern, str) or not pattern:
            errors.append('%s: pattern is missing' % label)
            continue
        if '\n' in pattern or '\r' in pattern:
            errors.append('%s: pattern %r contains a newline' % (label, pattern))
            continue
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            errors.append('%s: pattern %r is not a valid regular expression (%s)' % (label, pattern, e))
            continue
        if policy.get('apply_to', 'queues') == 'exchanges':
            continue
        found = sorted(q['name'] for q in queues if q.get('vhost') == vhost and compiled.search(q['name']))
        matches['%s/%s' % (vhost, name)] = found
        if not found:
            errors.append('%s: pattern %r matches none of the declared queues of vhost %s (%s)'
                          % (label, pattern, vhost,
                             ', '.join(sorted(q['name'] for q in queues if q.get('vhost') == vhost)) or 'none'))
    return errors, matches
