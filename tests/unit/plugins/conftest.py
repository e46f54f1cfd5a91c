# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.flash.connect.tests.unit.plugins.loopback import serve_http, serve_resp


@pytest.fixture
def http_server():
    """A scriptable HTTP server on 127.0.0.1 (see loopback.serve_http)."""
    with serve_http() as server:
        yield server


@pytest.fixture
def redis_server():
    """A scriptable Redis/Sentinel server on 127.0.0.1 (see loopback.serve_resp)."""
    with serve_resp() as server:
        yield server
