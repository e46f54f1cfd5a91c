# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """How the redis_* modules reach an instance or a Sentinel (plugins/module_utils/_redis.py)."""

    DOCUMENTATION = r'''
options:
  login_host:
    description: Address of the Redis instance or Sentinel.
    type: str
    default: 127.0.0.1
  login_user:
    description:
      - ACL user for C(AUTH); without it a password-only C(AUTH) (Redis's C(default) user, or a
        Sentinel's C(requirepass)).
    type: str
  login_password:
    description: Password for C(AUTH); without it no C(AUTH) is sent.
    type: str
  tls:
    description: Speak TLS (the instance's C(tls-port)).
    type: bool
    default: false
  validate_certs:
    description: With O(tls), verify the server's certificate.
    type: bool
    default: true
  ca_path:
    description: With O(tls), PEM file of the CA to trust.
    type: path
  connect_timeout:
    description: Seconds one connection attempt and each reply may take.
    type: float
    default: 5.0
'''
