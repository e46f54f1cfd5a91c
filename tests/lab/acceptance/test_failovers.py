# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Redis master and a RabbitMQ node lost under load (issues 6, 16.4, 16.9), and no redeploy
since the Redis failover (after the converge that follows it)."""
import http.client
import json
import ssl
import subprocess
import time

import pytest

from acceptance import helpers
from acceptance.helpers import Client, app_containers

RECONNECT_S = 45


def test_redis_failover(ep, figures, sentinels_healthy):
    """Stop the container of the session master under load: chat commands (each reads or writes
    the user's session in Redis through the app host's HAProxy, like the real app's; /health
    answers without Redis) answer 200 again within 15 s, the balance cache works on the new
    master, the app containers (ids, start times) unchanged; recorded for test_no_redeploy."""
    name = helpers.session_master_name(ep)
    master = helpers.container_of(ep, helpers.sentinel_master(ep, name))
    app_before = app_containers(ep)
    # For test_no_redeploy after the converge that follows (scripts/lab-check.sh).
    helpers.record_failover(ep, app_before)
    client = Client(['/api/commands'], rate=10.0)
    client.start()
    time.sleep(3)
    before = client.failed()
    stopped_at = time.monotonic() - client.start_time
    subprocess.run(['docker', 'stop', '-t', '0', master], check=True, stdout=subprocess.DEVNULL)
    try:
        time.sleep(25)
    finally:
        client.stop()
        subprocess.run(['docker', 'start', master], check=True, stdout=subprocess.DEVNULL)
    recovery = helpers.recovery_figures(client.samples, stopped_at)
    new_master = helpers.container_of(ep, helpers.sentinel_master(ep, name))
    figures.update(stopped=master, new_master=new_master, failed_before_stop=len(before), **recovery)
    assert len(before) == 0, 'requests failed before the master was stopped'
    assert new_master != master, 'Sentinel did not elect a new master'
    assert figures['recovered_within_s'] <= 15.0, 'requests needing Redis did not recover within 15 s'
    assert figures['requests_after_recovery'] >= 50, 'too few requests after recovery'
    # The cache works on the new master: the second balance of a fresh user comes from Redis.
    host, port = helpers.proxy_address(ep['proxy']['https_url'])
    conn = http.client.HTTPSConnection(host, port, timeout=10, context=ssl.create_default_context(cafile=ep['proxy']['ca_file']))
    # One user for both requests (a name made per request once gave two users, when the second
    # request fell in the next second, and two cache misses).
    user, sources = 'failover%d' % int(time.time()), []
    for _attempt in range(2):
        conn.request('GET', '/api/balance?user=%s' % user)
        sources.append(json.loads(conn.getresponse().read()).get('source'))
    conn.close()
    figures['balance_sources'] = sources
    assert sources == ['wallet', 'cache'], 'the balance cache does not work on the new master'
    # No redeploy: the same app containers, started at the same moments, before and after.
    app_after = app_containers(ep)
    figures['app_containers'] = len(app_after)
    assert app_before and app_after == app_before, 'the app containers changed across the failover'


def test_rabbitmq_node_loss(ep, figures, rabbitmq_cluster):
    """(issue 16.4, with the real app's publishing) lnflash/flash-whatsapp-service publishes on a
    plain channel (createChannel, no publisher confirms) and answers without waiting for the
    broker, so a command answers 200 whether or not its event reached a queue. Stop the RabbitMQ
    node that holds most of the app's AMQP connections (asserted from the broker's own connection
    list) under a client sending chat commands: commands keep answering 200, the app's connections
    are back on the surviving nodes within RECONNECT_S (45 s), and every command answered 200 has
    its event in the app's durable queue, except those answered between the node's loss and the
    reconnect: the real app's loss window, reported as a figure (the app logs each one it drops)."""
    rmq = ep['rabbitmq']
    nodes = helpers.rabbitmq_nodes(ep)
    vhost, user, queue = rmq.get('vhost', '/'), rmq['app_user'], rmq.get('app_queue', helpers.APP_QUEUE)
    per_node = helpers.app_connections_per_node(nodes[0], nodes, user, vhost)
    figures['app_connections_per_node'] = per_node
    assert per_node, 'the broker lists no AMQP connection of the app user %s' % user
    victim = max(sorted(per_node), key=per_node.get)
    assert victim in nodes, 'an app connection ends on no lab node: %s' % per_node
    assert per_node.get(victim, 0) > 0, 'the node to stop, %s, holds none of the app\'s connections' % victim
    survivor = [n for n in nodes if n != victim][0]
    depth_before = helpers.queue_depth(survivor, vhost, queue)
    client = Client(['/api/commands'], rate=8.0)
    client.start()
    time.sleep(3)
    stopped_at = time.monotonic() - client.start_time
    subprocess.run(['docker', 'stop', '-t', '0', victim], check=True, stdout=subprocess.DEVNULL)
    try:
        # Back on the survivors: as many app connections as before, none on the stopped node.
        deadline, moved = time.monotonic() + RECONNECT_S, {}
        while time.monotonic() < deadline:
            time.sleep(2)
            moved = helpers.app_connections_per_node(survivor, nodes, user, vhost)
            if victim not in moved and sum(moved.values()) >= sum(per_node.values()):
                break
        reconnected_at = time.monotonic() - client.start_time
        depth_mid = helpers.queue_depth(survivor, vhost, queue)
        time.sleep(15)
        client.stop()
        time.sleep(3)  # the app publishes from its own thread: let the last accepted events go out
        # Judged by conservation over the whole step, not by a depth read mid-way (a read takes
        # seconds and the app answers after it publishes, so events straddle any mid-way read: a
        # run counted 120 after the read and 79 more in the queue, with none lost overall). Every
        # event the app accepted must be in the queue, except those accepted between the node's
        # loss and the app's reconnect (the real app publishes without confirms). The app
        # publishes from its own thread and may be late: read until they are there, at most 60 s.
        accepted = [s for s in client.samples if s[1] == 200]
        in_window = [s for s in accepted if stopped_at <= s[0] < reconnected_at]
        settle_deadline, settle_start = time.monotonic() + 60, time.monotonic()
        depth_after = depth_before
        while True:
            try:
                depth_after = helpers.queue_depth(survivor, vhost, queue)
            except (subprocess.SubprocessError, RuntimeError, ValueError):
                pass  # a busy node may not answer list_queues in time: ask again
            if depth_after - depth_before >= len(accepted) - len(in_window) or time.monotonic() >= settle_deadline:
                break
            time.sleep(2)
        figures['queue_settled_after_s'] = round(time.monotonic() - settle_start, 1)
    finally:
        client.stop()  # again, if the steps above failed (stopping twice is harmless)
        subprocess.run(['docker', 'start', victim], check=True, stdout=subprocess.DEVNULL)
    # Seen in the lab (RabbitMQ 3.10.8): when the stopped node also held the master of the app's
    # classic mirrored queue, the mirror is promoted at once, but part of the events published
    # after the reconnect stay in flight until the stopped node is back, then land all at once
    # (a run: depth 284 for a minute, 336 two seconds after `docker start`; every event there).
    # They are delayed, not lost: judge conservation once the node is back, and report how many
    # waited for it.
    depth_while_down = depth_after
    if depth_after - depth_before < len(accepted) - len(in_window):
        back_deadline, back_start = time.monotonic() + 120, time.monotonic()
        while time.monotonic() < back_deadline:
            time.sleep(2)
            try:
                depth_after = helpers.queue_depth(survivor, vhost, queue)
            except (subprocess.SubprocessError, RuntimeError, ValueError):
                continue
            if depth_after - depth_before >= len(accepted) - len(in_window):
                break
        figures['queue_settled_after_node_back_s'] = round(time.monotonic() - back_start, 1)
    figures['events_held_until_node_back'] = max(0, depth_after - depth_while_down)
    after_stop = [s for s in client.samples if s[0] >= stopped_at]
    accepted_after = [s for s in accepted if s[0] >= reconnected_at]
    lost = max(0, len(accepted) - (depth_after - depth_before))
    figures.update({'stopped': victim, 'reconnected_after_s': round(reconnected_at - stopped_at, 1),
                    'app_connections_after': moved, 'commands_after_stop': len(after_stop),
                    'failed_after_stop': len([s for s in after_stop if s[1] != 200]),
                    'failures': [s for s in client.samples if s[1] != 200][:5],
                    'queue': queue, 'queue_depth_before': depth_before, 'queue_depth_reconnected': depth_mid,
                    'queue_depth_after': depth_after, 'accepted': len(accepted), 'accepted_in_window': len(in_window),
                    'accepted_after_reconnect': len(accepted_after), 'events_lost': lost})
    assert not client.failed(), 'commands failed: the app answers without waiting for the broker'
    assert victim not in moved and sum(moved.values()) >= sum(per_node.values()), \
        'the app did not reconnect to the surviving nodes within %d s' % RECONNECT_S
    # The connections the stopped node held came back on the survivors (they gained them).
    assert sum(moved.values()) - sum(v for n, v in per_node.items() if n != victim) >= per_node.get(victim, 0) > 0, \
        'the surviving nodes did not gain the stopped node\'s app connections'
    assert len(accepted_after) >= 50, 'too few commands after the reconnect to judge'
    assert lost <= len(in_window), (
        'events accepted outside the reconnect window are missing from %s: %d commands answered 200, the depth grew '
        'by %d, %d lost, more than the %d answered between the loss and the reconnect'
        % (queue, len(accepted), depth_after - depth_before, lost, len(in_window)))


@pytest.mark.after_converge
def test_no_redeploy(ep, figures, failover_record):
    """(issue 16.9, after the converge that follows the failover) the app containers recorded
    before the Redis failover (ids and start times) are the same after the failover, the
    rotation's later run and the converge: nothing was redeployed. It needs test_redis_failover's
    record of this lab: alone without it, a skip; in the lab-check (--require-records), a failure."""
    after = app_containers(ep)
    figures.update(app_containers=len(after), changed=sorted(set(failover_record.items()) ^ set(after.items())))
    assert failover_record and after == failover_record, 'the app containers changed since the Redis failover'
