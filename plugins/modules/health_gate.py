#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: health_gate
short_description: Wait until HTTP, TCP, Redis, RabbitMQ and Prometheus health checks pass, within one time budget
version_added: 0.1.0
description:
  - Runs a list of health checks in rounds until every check has passed I(required_successes)
    rounds in a row, or fails when the overall I(timeout) is spent, naming every failing check
    and what it last saw.
  - Check types are C(http) (accepted status codes, a JMESPath expression over the JSON body,
    a latency ceiling, and an error-rate window of several requests per round), C(tcp) (the port
    accepts connections), C(redis) (the server's replication role, or Sentinel quorum and the
    number of healthy replicas and Sentinels), C(rabbitmq) (running nodes, memory and disk alarms,
    partitions, a vhost running everywhere, through the management API) and C(prometheus)
    (no firing alert matching a set of labels).
  - With I(required_successes=1) a round runs only the checks that have not passed yet. Above 1,
    every round runs every check, and a check that fails loses its streak.
  - Every check is attempted at least once. A check's own I(checks[].timeout) is cut to what is
    left of the budget, and no new round starts once the budget is spent.
  - The checks only read, so the module never reports a change and runs in check mode as well.
  - Redis is spoken to with a small built-in client; no Redis library is needed on the target.
author:
  - Flash Connect infrastructure team (@flash-connect)
options:
  checks:
    description:
      - The checks. Each has a unique I(name) and a I(type); the other options apply to some types
        only, and setting one for a type it does not apply to is an error naming the check and option.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the check, unique in the list. Reports and error messages use it.
        type: str
        required: true
      type:
        description:
          - Kind of check, one of C(http), C(tcp), C(redis), C(rabbitmq) or C(prometheus).
          - Validated by the module so that an unknown type is reported with the check's name.
        type: str
        required: true
      timeout:
        description:
          - Seconds one probe (one request, connection or Redis conversation) may take.
          - Never more than what is left of the overall I(timeout).
        type: float
        default: 5
      url:
        description:
          - C(http) - the URL to request.
          - C(rabbitmq) - base URL of the management API, for example V(http://rmq-1:15672); or
            V(amqp://host[:port]) / V(amqps://host[:port]) for an AMQP 0-9-1 login as I(username)
            with I(password) on I(vhost), the way an app's client connects (a refused login or
            vhost fails the check with the broker's reply code).
          - C(prometheus) - base URL of Prometheus, for example V(http://prometheus:9090).
          - Required for these types. Credentials belong in I(username) and I(password), not in the URL.
        type: str
      method:
        description:
          - C(http) - HTTP method. Defaults to V(GET).
        type: str
      headers:
        description:
          - C(http) and C(prometheus) - extra request headers.
        type: dict
      body:
        description:
          - C(http) - request body as text. Mutually exclusive with I(json).
        type: str
      json:
        description:
          - C(http) - request body, sent as JSON with a C(Content-Type) of C(application/json) unless
            I(headers) set another one. Mutually exclusive with I(body).
        type: raw
      status:
        description:
          - C(http) - accepted status codes. Defaults to V([200]).
          - Redirects are not followed, so a redirecting URL answers its 3xx code.
        type: list
        elements: int
      expect_headers:
        description:
          - C(http) - response headers the answer must carry, each with exactly this value (header
            names compare case-insensitively), for example the header C(X-Flash-Colour) with the
            value V(green), to prove which colour behind a proxy served it. Checked after the status, on every request of the window.
        type: dict
      json_query:
        description:
          - C(http) - a JMESPath expression evaluated over the JSON body. The answer passes when the
            result is true in the JMESPath sense (not null, false, or an empty string, list or
            object; V(0) is true), or equals I(expect) when I(expect) is set.
          - Needs the C(jmespath) Python library on the target.
        type: str
      expect:
        description:
          - C(http) - the value I(json_query) must give. Compared as JSON values, so V(true) is not V(1).
          - A null I(expect) is the same as not setting it.
        type: raw
      max_latency_ms:
        description:
          - C(http), C(tcp) and C(redis) - milliseconds above which a probe that otherwise passed fails.
          - For C(http) this applies to each request of the window.
        type: float
      requests:
        description:
          - C(http) - number of requests per round (the error-rate window). Defaults to V(1).
        type: int
      max_error_rate:
        description:
          - C(http) - share of the I(requests) of a round that may fail, from V(0.0) to below V(1.0).
            The round passes when the failed share is at most this. Defaults to V(0.0).
        type: float
      validate_certs:
        description:
          - C(http), C(rabbitmq), C(prometheus), and C(redis) with I(tls) - verify the server's
            TLS certificate and host name. Defaults to V(true).
        type: bool
      ca_path:
        description:
          - C(http), C(rabbitmq), C(prometheus), and C(redis) with I(tls) - PEM file of the CA to
            trust, for example the lab proxy's CA.
        type: path
      use_proxy:
        description:
          - C(http), C(rabbitmq) and C(prometheus) - honour the C(http_proxy)/C(https_proxy)
            environment variables. Defaults to V(true).
        type: bool
      username:
        description:
          - C(http), C(rabbitmq), C(prometheus) - user for HTTP basic authentication.
          - C(redis) - ACL user for C(AUTH); needs I(password).
        type: str
      password:
        description:
          - Password for I(username) (HTTP basic authentication), or the Redis or Sentinel password.
          - Never returned.
        type: str
      host:
        description:
          - C(tcp) and C(redis) - host name or address to connect to. Required for these types.
        type: str
      port:
        description:
          - C(tcp) - port to connect to. Required.
          - C(redis) - defaults to V(6379), or V(26379) with I(sentinel=true).
        type: int
      tls:
        description:
          - C(redis) - speak TLS (for a C(tls-port)). Defaults to V(false).
        type: bool
      expect_role:
        description:
          - C(redis) - the role the server must have, V(master), V(replica) or V(any). Defaults to V(any).
          - A replica passes only when its link to the master is up.
          - Read with C(ROLE), or C(INFO replication) when an ACL denies C(ROLE).
          - With V(any), a user that may run neither (an application user) passes when it is let in
            and C(PING) answers.
        type: str
      sentinel:
        description:
          - C(redis) - I(host) and I(port) are a Sentinel. The check passes when
            C(SENTINEL CKQUORUM) of I(master_name) answers OK, the master is not flagged down,
            and the I(min_replicas) and I(min_sentinels) floors are met. Defaults to V(false).
        type: bool
      master_name:
        description:
          - C(redis) with I(sentinel=true) - the name of the monitored master. Required there.
        type: str
      min_replicas:
        description:
          - C(redis) with I(sentinel=true) - least number of replicas the Sentinel knows and does not
            flag as down or disconnected (C(SENTINEL REPLICAS)).
        type: int
      min_sentinels:
        description:
          - C(redis) with I(sentinel=true) - least number of healthy Sentinels for the master, counting
            the one asked and the others it knows (C(SENTINEL SENTINELS)).
        type: int
      min_running_nodes:
        description:
          - C(rabbitmq) - least number of running nodes in C(GET /api/nodes). By default every node
            of the cluster must be running.
          - Whatever this is, a running node with a memory or disk alarm, or a network partition, fails the check.
        type: int
      vhost:
        description:
          - C(rabbitmq) - also require C(GET /api/health/checks/virtual-hosts) to pass and this
            virtual host to exist and be running on every node.
          - C(rabbitmq) with an C(amqp://) or C(amqps://) I(url) - the virtual host the login opens.
            Defaults to V(/).
        type: str
      write_key:
        description:
          - C(redis) (not with I(sentinel)) - after the role check, C(SET) this key (expiring in
            60 seconds) as the authenticated user, proving the user may write, as an app must.
        type: str
      labels:
        description:
          - C(prometheus) - the check fails while a firing alert has all of these labels with these
            values. Empty (the default) means any firing alert fails it. Pending alerts do not count.
        type: dict
  timeout:
    description:
      - Overall time budget in seconds for all rounds.
    type: float
    default: 60
  interval:
    description:
      - Seconds to wait between rounds.
    type: float
    default: 2
  required_successes:
    description:
      - Number of rounds in a row each check must pass. Above 1, every round runs every check.
    type: int
    default: 1
attributes:
  check_mode:
    support: full
    description: The checks only read, so they run in check mode too and the verdict is the same.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything; the result only depends on the services' health.
notes:
  - The checks run from where the module runs, usually the managed host; use C(delegate_to) to
    check from elsewhere (for example from the controller through a published port).
  - Checks within a round run one after the other, so the worst case of one round is the sum of the
    checks' timeouts (times I(requests) for C(http)).
requirements:
  - jmespath (only for C(http) checks that use I(json_query))
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
  - name: JMESPath specification
    description: The expression language of I(json_query).
    link: https://jmespath.org/specification.html
  - name: Redis Sentinel
    description: C(SENTINEL CKQUORUM), C(SENTINEL REPLICAS) and C(SENTINEL SENTINELS).
    link: https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/
  - name: RabbitMQ HTTP API
    description: C(/api/nodes), C(/api/vhosts) and the health check endpoints.
    link: https://www.rabbitmq.com/docs/http-api-reference
  - name: Prometheus HTTP API
    description: C(/api/v1/alerts).
    link: https://prometheus.io/docs/prometheus/latest/querying/api/#alerts
'''

EXAMPLES = r'''
- name: Gate the new colour directly before switching the proxy
  flash.connect.health_gate:
    timeout: 120
    interval: 3
    checks:
      - name: app-ready
        type: http
        url: "http://{{ inventory_hostname }}:3001/health/ready"
        json_query: "status"
        expect: ok
        max_latency_ms: 500
      - name: app-port
        type: tcp
        host: "{{ inventory_hostname }}"
        port: 3001

- name: Gate through the proxy with an error-rate window (at most 1 failure in 20, three rounds in a row)
  flash.connect.health_gate:
    timeout: 90
    interval: 1
    required_successes: 3
    checks:
      - name: proxy-window
        type: http
        url: "https://{{ groups['proxy'][0] }}/health"
        ca_path: /etc/flash-connect/ca.pem
        headers:
          X-Health-Gate: deploy
        status: [200]
        json_query: "redis == 'connected' && rabbitmq == 'connected'"
        requests: 20
        max_error_rate: 0.05
        max_latency_ms: 800
        timeout: 3
  delegate_to: "{{ groups['proxy'][0] }}"

- name: Redis Sentinel has quorum, two healthy replicas and three Sentinels
  flash.connect.health_gate:
    checks:
      - name: sentinel-quorum
        type: redis
        sentinel: true
        host: "{{ groups['redis'][0] }}"
        master_name: flash-cache
        min_replicas: 2
        min_sentinels: 3
        password: "{{ redis_sentinel_password }}"
      - name: cache-master
        type: redis
        host: "{{ groups['redis'][0] }}"
        username: health
        password: "{{ redis_health_password }}"
        expect_role: master

- name: RabbitMQ cluster of three with no alarm, and the app vhost running everywhere
  flash.connect.health_gate:
    checks:
      - name: rabbitmq-cluster
        type: rabbitmq
        url: "http://{{ groups['rabbitmq'][0] }}:15672"
        username: monitoring
        password: "{{ rabbitmq_monitoring_password }}"
        min_running_nodes: 3
        vhost: flash

- name: The app's own credentials work through its local endpoints
  flash.connect.health_gate:
    timeout: 60
    checks:
      - name: redis-app-write
        type: redis
        host: 127.0.0.1
        password: "{{ app_redis_password }}"
        write_key: "flash:health:{{ inventory_hostname }}"
      - name: rabbitmq-app-login
        type: rabbitmq
        url: amqp://127.0.0.1:5672
        username: flash
        password: "{{ rabbitmq_app_password }}"
        vhost: flash

- name: No critical alert firing for the app, and none at all for Redis
  flash.connect.health_gate:
    timeout: 30
    checks:
      - name: app-alerts
        type: prometheus
        url: http://prometheus:9090
        labels:
          job: flash-connect
          severity: critical
      - name: redis-alerts
        type: prometheus
        url: http://prometheus:9090
        labels:
          service: redis

- name: Keep the report of a gate and say which check failed
  block:
    - name: Gate the release
      flash.connect.health_gate:
        checks:
          - name: app-live
            type: http
            url: http://app-1:3001/health/live
      register: gate
  rescue:
    - name: Name the failing checks
      ansible.builtin.debug:
        msg: "{{ gate.checks | rejectattr('passed') | map(attribute='name') | list }}"
'''

RETURN = r'''
passed:
  description: Whether every check passed its required rounds in a row within the budget.
  returned: always, unless the options are invalid
  type: bool
  sample: true
elapsed:
  description: Seconds spent running the gate.
  returned: always, unless the options are invalid
  type: float
  sample: 4.132
rounds:
  description: Number of rounds run.
  returned: always, unless the options are invalid
  type: int
  sample: 3
checks:
  description: One report per check, in the order given.
  returned: always, unless the options are invalid
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check.
      type: str
      sample: proxy-window
    type:
      description: Type of the check.
      type: str
      sample: http
    passed:
      description: Whether the check passed its required rounds in a row.
      type: bool
      sample: true
    attempts:
      description: Number of rounds in which the check ran.
      type: int
      sample: 2
    consecutive_successes:
      description: Rounds in a row the check has passed, ending with its last attempt.
      type: int
      sample: 1
    last_detail:
      description: What the last attempt saw, in one line.
      type: str
      sample: 20/20 requests passed, slowest 41.7 ms
    latency_ms:
      description:
        - Milliseconds the last attempt took (for C(http), the slowest request of the last round).
        - Null before any attempt.
      type: float
      sample: 41.7
    error_rate:
      description:
        - C(http) only - share of the last round's requests that failed, from 0 to 1. Null for other types.
      type: float
      sample: 0.05
'''

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.flash.connect.plugins.module_utils import _health
from ansible_collections.flash.connect.plugins.module_utils._health_probes import Prober

# The gate's clock; replaced by tests so that rounds run without sleeping.
_clock = time.monotonic
_sleep = time.sleep


def argument_spec():
    check_options = dict(
        name=dict(type='str', required=True),
        type=dict(type='str', required=True),
        timeout=dict(type='float', default=5),
        url=dict(type='str'),
        method=dict(type='str'),
        headers=dict(type='dict'),
        body=dict(type='str'),
        json=dict(type='raw'),
        status=dict(type='list', elements='int'),
        expect_headers=dict(type='dict'),
        json_query=dict(type='str'),
        expect=dict(type='raw'),
        max_latency_ms=dict(type='float'),
        requests=dict(type='int'),
        max_error_rate=dict(type='float'),
        validate_certs=dict(type='bool'),
        ca_path=dict(type='path'),
        use_proxy=dict(type='bool'),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        host=dict(type='str'),
        port=dict(type='int'),
        tls=dict(type='bool'),
        expect_role=dict(type='str'),
        sentinel=dict(type='bool'),
        master_name=dict(type='str'),
        min_replicas=dict(type='int'),
        min_sentinels=dict(type='int'),
        min_running_nodes=dict(type='int'),
        vhost=dict(type='str'),
        write_key=dict(type='str', no_log=False),
        labels=dict(type='dict'),
    )
    return dict(
        checks=dict(type='list', elements='dict', required=True, options=check_options),
        timeout=dict(type='float', default=60),
        interval=dict(type='float', default=2),
        required_successes=dict(type='int', default=1),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params

    if params['timeout'] <= 0:
        module.fail_json(msg='timeout must be above 0 seconds, got %s' % params['timeout'])
    if params['interval'] < 0:
        module.fail_json(msg='interval must be 0 seconds or more, got %s' % params['interval'])
    if params['required_successes'] < 1:
        module.fail_json(msg='required_successes must be at least 1, got %s' % params['required_successes'])

    compile_query = None
    if _health.uses_json_query(params['checks']):
        if not _health.HAS_JMESPATH:
            module.fail_json(msg=missing_required_lib('jmespath', reason='for json_query in http checks'),
                             exception=_health.JMESPATH_IMPORT_ERROR)
        compile_query = _health.compile_jmespath
    try:
        checks = _health.normalize_checks(params['checks'], compile_query=compile_query)
    except _health.HealthSpecError as exc:
        module.fail_json(msg=str(exc))

    result = _health.run_gate(checks, Prober(), params['timeout'], params['interval'], params['required_successes'],
                              clock=_clock, sleep=_sleep)
    if not result['passed']:
        module.fail_json(msg=_health.failure_message(result, params['timeout'], params['required_successes']),
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
