# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the redis role: values written the way Redis reads them back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.flash.connect.plugins.module_utils._redis import sds_repr


def redis_quote(value):
    """``value`` double-quoted and escaped as CONFIG REWRITE writes it (Redis's sdscatrepr)."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise AnsibleFilterError('redis_quote: expected a string or a number, got %s' % type(value).__name__)
    return sds_repr(to_text(value))


class FilterModule(object):
    """Redis filters."""

    def filters(self):
        return {
            'redis_quote': redis_quote,
        }
