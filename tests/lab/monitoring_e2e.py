# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11: the lab's monitoring end to end, against the real daemons.

`fire` (run by scripts/lab-check.sh after the app's acceptance):

1. every scrape target of the lab is up, and the set of targets is the inventory's (a node
   exporter on every host, every Redis instance through the Redis exporter logged in as the
   monitoring user, every Redis and Sentinel port and the public HTTPS endpoint through the
   blackbox exporter, every RabbitMQ node's plugin and its detailed per-queue endpoint, the
   nginx exporter, and the app's replicas on the colour the proxy says serves, from the file_sd
   job the deploys keep current); the exporters read their targets (redis_up, probe_success,
   nginx_up 1, the app's up with its colour label) and RabbitMQ 3.10.8 serves the per-queue depth
   the queue-depth rule reads;
2. the Watchdog reaches the dead-man's switch;
3. requests through the proxy (commands, a refused body, then `link` and six wrong OTP codes for
   one user, which the proxy's round robin spreads over the replicas: the OTP gauge is kept in
   Redis, so every replica exports the user's six and not its share); then every panel query of
   the four dashboards succeeds on the lab's Prometheus with data, the app's own series and the
   business contract's included, every replica's OTP gauge reads the six, and it raises
   FlashOtpFailures at the security channel;
4. at once: the Redis session master's server is stopped, a RabbitMQ node is stopped, and a
   queue is filled past 100 then past 500 messages. Each alert must reach the receivers its
   route names within a bounded time (a critical to the PagerDuty and Slack sinks, a warning to
   Slack), and while a critical fires, its warning for the same alert and instance must be held
   by Alertmanager as inhibited;
5. everything is put back: the Redis server started (a replica of the new master), the node
   started and in the cluster, the queue deleted.

`resolved` (run later, after the next converge, so the wait for the 5-minute windows to empty
overlaps other checks): each alert of step 4 reaches its receivers as resolved.

Figures go to .build/lab-check/monitoring-e2e.json (the time from the loss of the Redis master to
the page at the PagerDuty sink among them); the state between the two steps too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(HERE, 'acceptance'))
import helpers  # noqa: E402  (tests/lab/acceptance/helpers.py: endpoints, Sentinel and RabbitMQ readers)

STATE = os.path.join(ROOT, '.build', 'lab-check', 'monitoring-e2e.json')
DASHBOARDS = os.path.join(ROOT, 'tests', 'unit', 'monitoring', 'dashboards.py')
QUEUE = 'flash-lab-check-depth'
# The OTP failures of one user in app_traffic(): above FlashOtpFailures's warning threshold (5).
OTP_USER = 'e2e-otp-user'
OTP_FAILURES = 6
# Bounds: a Redis connection failure is critical after 4 failed probes (15 s apart) plus one
# evaluation and Alertmanager's group_wait; a target down pages after `for: 30s` in the lab.
FIRE_WITHIN_S = 240
RESOLVE_WITHIN_S = 600


def log(msg):
    print('%s monitoring-e2e: %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


def get_json(url, data=None, timeout=30):
    try:
        with urllib.request.urlopen(url, data, timeout=timeout) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:  # 400/422 carry Prometheus's error in the body
        return json.load(error)


def prom_query(mon, query):
    return get_json(mon['prometheus_url'] + 'api/v1/query', urllib.parse.urlencode({'query': query}).encode())


def wait_for(what, predicate, timeout, interval=3):
    """predicate() -> (done, detail); returns the detail once done, or fails naming what and the last detail."""
    deadline, detail = time.monotonic() + timeout, None
    while True:
        done, detail = predicate()
        if done:
            return detail
        if time.monotonic() > deadline:
            raise SystemExit('monitoring-e2e: FAILED after %d s: %s (last: %s)' % (timeout, what, detail))
        time.sleep(interval)


# The sink on the monitoring host logs every notification it receives (playbooks/files/flash-sink.py).

def sink_records(mon, since):
    out = subprocess.run(['docker', 'exec', mon['host'], 'cat', mon['sink_log']], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True, timeout=30, check=False).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [r for r in records if r.get('at', 0) >= since]


def status_of(record):
    """'firing' or 'resolved', from each receiver's own field: PagerDuty's event_action (trigger,
    resolve), the Slack message's title ([FIRING:n] ..., [RESOLVED] ...), the webhook's status.
    A word search would not do: every PagerDuty trigger carries a "resolved" key."""
    body = record.get('body') or {}
    if not isinstance(body, dict):
        return None
    if 'event_action' in body:
        return {'trigger': 'firing', 'resolve': 'resolved'}.get(body['event_action'])
    if body.get('attachments'):
        title = body['attachments'][0].get('title', '')
        return 'firing' if title.startswith('[FIRING') else 'resolved' if title.startswith('[RESOLVED') else None
    return body.get('status')


def notified(mon, since, path, needles, status=None):
    """The records received at `path` since `since` in `status` (firing, resolved; None: either)
    whose body holds every needle, oldest first."""
    return [r for r in sink_records(mon, since)
            if r.get('path') == path and all(n in json.dumps(r.get('body')) for n in needles)
            and (status is None or status_of(r) == status)]


def wait_notified(mon, since, path, needles, timeout, what, status='firing'):
    """The first record at `path` holding every needle in `status`, waiting up to `timeout` s for it."""
    def found():
        records = notified(mon, since, path, needles, status)
        return bool(records), (records[0] if records else None)
    return wait_for('%s at %s' % (what, path), found, timeout)


def alerts(mon, name):
    """Alertmanager's alerts of one name, with their state (active, suppressed) and inhibitedBy."""
    query = urllib.parse.urlencode({'filter': 'alertname="%s"' % name})
    return get_json(mon['alertmanager_url'] + 'api/v2/alerts?' + query)


def inhibited(mon, name, label, value):
    """(the warning of `name` whose `label` is `value` is suppressed by an inhibition, the alerts seen)."""
    found = alerts(mon, name)
    warning = [a for a in found if a['labels'].get('severity') == 'warning' and a['labels'].get(label) == value]
    critical = [a for a in found if a['labels'].get('severity') == 'critical' and a['labels'].get(label) == value]
    ok = bool(warning) and bool(critical) and all(a['status']['state'] == 'suppressed' and a['status']['inhibitedBy']
                                                  for a in warning)
    return ok, [(a['labels'].get('severity'), a['status']) for a in found if a['labels'].get(label) == value]


# 1. Targets and exporters.

def expected_targets(ep, colour):
    groups, mon = ep['groups'], ep['monitoring']['host']
    redis_ports = [str(p) for p in helpers.redis_ports(ep)]
    sentinel_port = ep['redis']['sentinels'][0].rsplit(':', 1)[1]
    return {
        'prometheus': {mon + ':9090'}, 'alertmanager': {mon + ':9093'},
        'node': {h + ':9100' for h in ep['hosts']},
        'rabbitmq': {h + ':15692' for h in groups['rabbitmq']},
        'rabbitmq_detailed': {h + ':15692' for h in groups['rabbitmq']},
        'redis': {'redis://%s:%s' % (h, p) for h in groups['redis'] for p in redis_ports},
        'blackbox_redis': {'%s:%s' % (h, p) for h in groups['redis'] for p in redis_ports + [sentinel_port]},
        'blackbox_https': {'https://%s:443/health/ready' % h for h in groups['proxy']},
        'nginx': {h + ':9113' for h in groups['proxy']},
        # The app's replicas on the colour that serves (the file_sd job playbooks/app_scrape_targets.yml writes).
        'app': {'%s:%d' % (h, ep['app']['colour_ports'][colour] + n) for h in ep['app']['hosts'] for n in range(ep['app']['replicas'])},
    }


def check_targets(ep, mon):
    colour = helpers.serving_colour(ep)
    expected = expected_targets(ep, colour)

    def state():
        active = get_json(mon['prometheus_url'] + 'api/v1/targets?state=active')['data']['activeTargets']
        seen = {}
        for target in active:
            seen.setdefault(target['labels']['job'], {})[target['labels']['instance']] = target['health']
        instances = {job: set(v) for job, v in seen.items()}
        down = sorted('%s %s (%s)' % (job, i, h) for job, v in seen.items() for i, h in v.items() if h != 'up')
        missing = {j: sorted(e - instances.get(j, set())) for j, e in expected.items() if e - instances.get(j, set())}
        unexpected = {j: sorted(v - expected.get(j, set())) for j, v in instances.items() if v - expected.get(j, set())}
        return instances == expected and not down, {'down': down, 'missing': missing, 'unexpected': unexpected}
    wait_for('every lab target up, exactly the inventory\'s', state, 180, interval=5)
    log('targets: %d jobs, %d targets, all up, exactly the inventory\'s'
        % (len(expected), sum(len(v) for v in expected.values())))

    def series(query, count):
        answer = prom_query(mon, query)
        values = [r['value'][1] for r in answer.get('data', {}).get('result', [])]
        return len(values) == count and all(v == '1' for v in values), values
    wait_for('every Redis instance read by the exporter (redis_up 1)',
             lambda: series('redis_up{job="redis"}', len(expected['redis'])), 60)
    wait_for('every blackbox probe succeeding', lambda: series(
        'probe_success', len(expected['blackbox_redis']) + len(expected['blackbox_https'])), 60)
    wait_for('nginx read by its exporter (nginx_up 1)', lambda: series('nginx_up', len(expected['nginx'])), 60)
    wait_for('the app scraped on the %s colour' % colour,
             lambda: series('up{job="app",colour="%s"}' % colour, len(expected['app'])), 60)
    # The queue-depth rule's series: RabbitMQ 3.10.8's detailed endpoint serves it per queue.
    depth = prom_query(mon, 'rabbitmq_detailed_queue_messages')['data']['result']
    assert depth and all({'vhost', 'queue'} <= set(r['metric']) for r in depth), \
        'RabbitMQ serves no rabbitmq_detailed_queue_messages{vhost,queue}: %s' % depth[:3]
    log('exporters: redis_up, probe_success and nginx_up 1 on every target; rabbitmq_detailed_queue_messages for %d queues'
        % len(depth))
    # BackupRPOExceeded reads the backup runs' metric through the node exporter's textfile
    # collector: the series must be there under the labels the rule names (a scraped `job` label
    # arrived as `exported_job` once, and the rule matched nothing), and fresh.

    def rpo_series():
        result = prom_query(mon, 'time() - max(flash_backup_last_success_timestamp_seconds{schedule="frequent"})')
        return bool(result['data']['result']), result['data']['result']
    rpo = wait_for('the frequent backups\' metric under the RPO rule\'s labels', rpo_series, 150, interval=5)
    assert float(rpo[0]['value'][1]) < 420, 'the newest frequent backup is %s s old' % rpo[0]['value'][1]
    log('backups: the newest frequent copy is %.0f s old, as BackupRPOExceeded reads it' % float(rpo[0]['value'][1]))


# 3. Dashboards.

def check_dashboards(mon):
    queries = json.loads(subprocess.run([sys.executable, DASHBOARDS], stdout=subprocess.PIPE, check=True,
                                        universal_newlines=True).stdout)
    assert len(queries) >= 40, 'only %d dashboard queries' % len(queries)

    def answers():
        failures = []
        for entry in queries:
            answer = prom_query(mon, entry['query'])
            if answer.get('status') != 'success':
                failures.append((entry['dashboard'], entry['title'], entry['query'], answer.get('error')))
            elif not answer['data']['result']:
                failures.append((entry['dashboard'], entry['title'], entry['query'], 'no data'))
        return not failures, failures
    # Every panel has data, the app's and the business contract's included: the app job is
    # scraped and app_traffic() gave it requests (rates need two scrapes, so it may take a minute).
    wait_for('every dashboard query answered with data', answers, 120, interval=10)
    log('dashboards: %d queries, every one with data (the app\'s own series and the business contract\'s included)'
        % len(queries))
    return {'queries': len(queries), 'with_data': len(queries)}


def app_request(ep, method, path, body=None):
    """One request through the proxy (HTTPS, the lab CA): (status, parsed JSON answer)."""
    ctx = ssl.create_default_context(cafile=ep['proxy']['ca_file'])
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(ep['proxy']['https_url'].rstrip('/') + path, data=data, method=method,
                                 headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b'{}')
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b'{}')


def app_traffic(ep):
    """Requests the app counts, all through the proxy: commands of every kind (sessions, active
    users, commands) and one refused body (a 4xx: http_request_error_count); then `link` and
    OTP_FAILURES wrong codes for one user (flash_otp_failed_attempts_max_1h, which
    FlashOtpFailures reads)."""
    statuses = []
    for n in range(12):
        user = 'e2e-user-%d' % (n % 4)
        statuses.append(app_request(ep, 'POST', '/api/commands', {'user': user, 'command': ('balance', 'help')[n % 2]})[0])
    statuses.append(app_request(ep, 'POST', '/api/commands', {'user': 'not a user', 'command': 'help'})[0])
    assert statuses == [200] * 12 + [400], 'the app\'s answers through the proxy: %s' % statuses
    # The proxy balances round robin, so one user's codes reach every replica (3 and 3 of 6 with
    # two). The app keeps the failures in Redis (docs/metrics-contract.md) and each replica exports
    # the user's count over all of them: the alert fires only if that holds.
    statuses.append(app_request(ep, 'POST', '/api/commands', {'user': OTP_USER, 'command': 'link'})[0])
    verified = []
    for dummy in range(OTP_FAILURES):
        status, answer = app_request(ep, 'POST', '/api/commands', {'user': OTP_USER, 'command': 'otp', 'code': 'wrong-code'})
        statuses.append(status)
        verified.append(answer.get('result', {}).get('verified'))
    assert statuses[13:] == [200] * (OTP_FAILURES + 1), 'the `link` and OTP answers through the proxy: %s' % statuses[13:]
    assert verified == [False] * OTP_FAILURES, 'a wrong code verified: %s' % verified
    log('app traffic: 12 commands, 1 refused body, `link` and %d wrong OTP codes for %s, all through the proxy'
        % (OTP_FAILURES, OTP_USER))


def check_otp_gauges(ep, mon):
    """Every replica of the serving colour exports the user's failures over all the replicas
    (OTP_FAILURES or more: an earlier run within the hour adds its own), not its share of the
    round robin."""
    colour = helpers.serving_colour(ep)
    replicas = expected_targets(ep, colour)['app']

    def gauges():
        result = prom_query(mon, 'flash_otp_failed_attempts_max_1h{job="app",colour="%s"}' % colour)['data']['result']
        values = {r['metric']['instance']: float(r['value'][1]) for r in result}
        return set(values) == replicas and all(v >= OTP_FAILURES for v in values.values()), values
    values = wait_for('flash_otp_failed_attempts_max_1h >= %d on every %s replica' % (OTP_FAILURES, colour), gauges, 120, interval=5)
    log('OTP gauge: %s on the %d %s replicas (the failures add up across them)'
        % (', '.join('%g' % v for v in sorted(values.values())), len(values), colour))


# 4. Faults.

def management(ep, method, path, body=None):
    """One call of RabbitMQ's management API on the first node, from this machine (the admin
    allowlist reaches it), as the lab's admin user (its credential file)."""
    with open(ep['credentials']['rabbitmq-admin']) as handle:
        password = handle.read().strip()
    request = urllib.request.Request(ep['rabbitmq']['management_address_url'] + 'api/' + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={'content-type': 'application/json'})
    request.add_header('Authorization', 'Basic ' + base64.b64encode(('admin:' + password).encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status


def fill_queue(ep, count):
    """`count` messages more into QUEUE (declared durable on the app's vhost), published to the
    default exchange through the management API (the lab's AMQP port answers the app hosts only)."""
    vhost = urllib.parse.quote(ep['rabbitmq']['vhost'], safe='')
    management(ep, 'PUT', 'queues/%s/%s' % (vhost, QUEUE), {'durable': True})
    for n in range(count):
        management(ep, 'POST', 'exchanges/%s/amq.default/publish' % vhost,
                   {'properties': {}, 'routing_key': QUEUE, 'payload': 'lab-check depth %d' % n, 'payload_encoding': 'string'})


def delete_queue(ep):
    vhost = urllib.parse.quote(ep['rabbitmq']['vhost'], safe='')
    management(ep, 'DELETE', 'queues/%s/%s' % (vhost, QUEUE))


def docker_exec(host, *args):
    subprocess.run(['docker', 'exec', host] + list(args), check=True, stdout=subprocess.DEVNULL, timeout=300)


def fire(ep, mon):
    figures = {}
    check_targets(ep, mon)
    wait_notified(mon, time.time() - 120, mon['sink_receivers']['deadman'], ['Watchdog'], 60, 'the Watchdog')
    log('the Watchdog reaches the dead-man\'s switch')
    since_traffic = time.time()
    app_traffic(ep)
    figures['dashboards'] = check_dashboards(mon)
    check_otp_gauges(ep, mon)
    # The app's own gauge through Prometheus's rule to the security channel (team: security).
    wait_notified(mon, since_traffic, mon['sink_receivers']['slack_security'], ['FlashOtpFailures', 'warning'], 120,
                  'the OTP failures warning at the security channel')
    log('FlashOtpFailures warning at the security channel after %d wrong codes for one user' % OTP_FAILURES)

    paths = mon['sink_receivers']
    master = helpers.container_of(ep, helpers.sentinel_master(ep, helpers.session_master_name(ep)))
    session_port = helpers.sentinel_master_addr(ep, helpers.session_master_name(ep))[1]
    redis_instance = '%s:%d' % (master, session_port)
    victim = helpers.rabbitmq_nodes(ep)[-1]
    rabbitmq_instance = victim + ':15692'

    since = time.time()
    fill_queue(ep, 150)
    docker_exec(master, 'systemctl', 'stop', 'redis-server@session')
    redis_lost = time.time()
    docker_exec(victim, 'systemctl', 'stop', 'rabbitmq-server')
    log('stopped Redis on %s (the session master), RabbitMQ on %s; %s holds 150 messages' % (master, victim, QUEUE))
    try:
        # The queue over 100: a warning to Slack. Then over 500: a critical to PagerDuty and Slack,
        # and its warning held as inhibited.
        wait_notified(mon, since, paths['slack'], ['FlashRabbitmqQueueDepth', QUEUE, 'warning'],
                      FIRE_WITHIN_S, 'the queue-depth warning')
        log('FlashRabbitmqQueueDepth warning at Slack (%s over 100)' % QUEUE)
        fill_queue(ep, 400)
        for path in (paths['pagerduty'], paths['slack']):
            wait_notified(mon, since, path, ['FlashRabbitmqQueueDepth', QUEUE, 'critical'], FIRE_WITHIN_S,
                          'the queue-depth critical')
        wait_for('the queue-depth warning inhibited by its critical',
                 lambda: inhibited(mon, 'FlashRabbitmqQueueDepth', 'queue', QUEUE), 60)
        log('FlashRabbitmqQueueDepth critical at PagerDuty and Slack (550 messages), its warning inhibited')

        page = wait_notified(mon, since, paths['pagerduty'], ['FlashRedisConnectionFailures', redis_instance, 'critical'],
                             FIRE_WITHIN_S, 'the Redis page')
        figures['redis_loss_to_page_s'] = round(page['at'] - redis_lost, 1)
        wait_notified(mon, since, paths['slack'], ['FlashRedisConnectionFailures', redis_instance, 'critical'],
                      FIRE_WITHIN_S, 'the Redis critical at Slack')
        wait_for('the Redis warning inhibited by its critical',
                 lambda: inhibited(mon, 'FlashRedisConnectionFailures', 'instance', redis_instance), 60)
        log('FlashRedisConnectionFailures critical for %s at PagerDuty %.1f s after the loss, and at Slack; its warning'
            ' inhibited' % (redis_instance, figures['redis_loss_to_page_s']))

        wait_notified(mon, since, paths['slack'], ['FlashTargetDown', rabbitmq_instance], FIRE_WITHIN_S,
                      'the RabbitMQ node\'s target down')
        log('FlashTargetDown for %s at Slack' % rabbitmq_instance)
        # A warning pages nobody: no PagerDuty event for the node (its route is Slack only).
        assert not notified(mon, since, paths['pagerduty'], ['FlashTargetDown']), 'a warning reached PagerDuty'
    finally:
        docker_exec(master, 'systemctl', 'start', 'redis-server@session')
        docker_exec(victim, 'systemctl', 'start', 'rabbitmq-server')
        delete_queue(ep)
    recovered = time.time()
    nodes = sorted(helpers.rabbitmq_nodes(ep))
    wait_for('every RabbitMQ node running in the cluster', lambda: (sorted(helpers.running_nodes(ep)) == nodes,
                                                                    helpers.running_nodes(ep)), 180, interval=5)
    wait_for('every Sentinel seeing its master with every replica', lambda: helpers.sentinel_views(ep), 180, interval=5)
    log('recovered: Redis on %s back as a replica, %s back in the cluster, %s deleted' % (master, victim, QUEUE))
    figures.update({'redis_instance': redis_instance, 'rabbitmq_instance': rabbitmq_instance, 'since': since,
                    'recovered': recovered})
    return figures


def resolved(mon, state):
    paths, since = mon['sink_receivers'], state['recovered']
    expectations = [
        (paths['pagerduty'], ['FlashRedisConnectionFailures', state['redis_instance'], 'critical']),
        (paths['slack'], ['FlashRedisConnectionFailures', state['redis_instance'], 'critical']),
        (paths['pagerduty'], ['FlashRabbitmqQueueDepth', QUEUE, 'critical']),
        (paths['slack'], ['FlashRabbitmqQueueDepth', QUEUE, 'critical']),
        (paths['slack'], ['FlashTargetDown', state['rabbitmq_instance']]),
    ]
    deadline, last = since + RESOLVE_WITHIN_S, since
    for path, needles in expectations:
        record = wait_notified(mon, since - 1, path, needles, max(deadline - time.time(), 1), 'resolved', status='resolved')
        log('resolved at %s: %s, %.0f s after the recovery' % (path, ' '.join(needles[:2]), record['at'] - since))
        last = max(last, record['at'])
    return {'resolved_within_s': round(last - since, 1)}


def main():
    step = sys.argv[1] if len(sys.argv) > 1 else ''
    ep = helpers.endpoints()
    mon = ep.get('monitoring')
    assert mon, 'endpoints.json has no monitoring section (no monitoring host in the lab)'
    if step == 'fire':
        figures = fire(ep, mon)
    elif step == 'resolved':
        with open(STATE) as handle:
            figures = json.load(handle)
        figures.update(resolved(mon, figures))
    else:
        raise SystemExit('usage: monitoring_e2e.py fire|resolved')
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(STATE, 'w') as handle:
        json.dump(figures, handle, indent=1, sort_keys=True)
    print(json.dumps({'step': step, 'figures': figures}, sort_keys=True))


if __name__ == '__main__':
    main()
