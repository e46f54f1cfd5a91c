# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test client run INSIDE the scenario's containers (localhost only). Prints one JSON document.

  publish   QUEUE SECONDS MAX OUT   confirmed + mandatory publishes to the default exchange,
                                   numbered; writes confirmed ids and the largest confirm gap to OUT
  drain     QUEUE IDS_FILE          consume everything, ack, report how many confirmed ids are missing
  reject    (payments)              publish, consume, reject without requeue, read the DLQ
  poison                            publish, nack with requeue until dead-lettered, read the DLQ
  connect   USER PASSWORD VHOST [PORT]  try to open a connection (port 5672 unless given),
                                   report the broker's answer
  fill      QUEUE COUNT             publish COUNT confirmed messages
  count     QUEUE                   messages ready in QUEUE (passive declare)
  overflow  QUEUE MAX               confirmed publishes until the broker nacks one (or MAX); purges after
  declare   QUEUE                   declare QUEUE as the upstream app does ({durable: true}, no arguments)
  deadletter EXCHANGE KEY QUEUE DLQ publish via EXCHANGE/KEY, take it from QUEUE, reject it, find it in DLQ
"""
import json
import sys
import time
import uuid

import pika

APP_USER, APP_PASSWORD, VHOST = None, None, 'flash'


def params(user, password, vhost=VHOST):
    return pika.ConnectionParameters(
        host='127.0.0.1', virtual_host=vhost, credentials=pika.PlainCredentials(user, password),
        connection_attempts=3, retry_delay=1, blocked_connection_timeout=30, heartbeat=10)


def channel(user, password):
    conn = pika.BlockingConnection(params(user, password))
    ch = conn.channel()
    return conn, ch


def publish(user, password, queue, seconds, limit, out):
    conn, ch = channel(user, password)
    ch.confirm_delivery()
    confirmed, failures = [], []
    start = last = time.monotonic()
    max_gap = 0.0
    i = 0
    while i < limit and time.monotonic() - start < seconds:
        i += 1
        try:
            ch.basic_publish('', queue, str(i).encode(), mandatory=True,
                             properties=pika.BasicProperties(delivery_mode=2, message_id=str(i)))
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as e:
            failures.append({'id': i, 'error': type(e).__name__})
            continue
        now = time.monotonic()
        max_gap = max(max_gap, now - last)
        last = now
        confirmed.append(i)
    conn.close()
    result = {'published': i, 'confirmed': len(confirmed), 'failed': len(failures),
              'max_confirm_gap_s': round(max_gap, 3), 'duration_s': round(time.monotonic() - start, 3)}
    with open(out, 'w') as f:
        json.dump({'ids': confirmed, 'result': result}, f)
    return result


def drain(user, password, queue, ids_file):
    with open(ids_file) as f:
        confirmed = set(json.load(f)['ids'])
    conn, ch = channel(user, password)
    ch.basic_qos(prefetch_count=1000)
    seen, deliveries, last_tag = set(), 0, None
    # A consumer with a prefetch window (not basic_get, one round trip per message); every
    # message is acked, in batches; the queue counts as drained after 3 s without a delivery.
    for method, _props, body in ch.consume(queue, inactivity_timeout=3):
        if method is None:
            break
        deliveries += 1
        seen.add(int(body))
        last_tag = method.delivery_tag
        if deliveries % 500 == 0:
            ch.basic_ack(last_tag, multiple=True)
    if last_tag is not None:
        ch.basic_ack(last_tag, multiple=True)
    ch.cancel()
    conn.close()
    missing = sorted(confirmed - seen)
    return {'confirmed': len(confirmed), 'consumed_distinct': len(seen), 'deliveries': deliveries,
            'missing': len(missing), 'missing_sample': missing[:20]}


def wait_get(ch, queue, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, props, body = ch.basic_get(queue)
        if method is not None:
            return method, props, body
        time.sleep(0.2)
    return None, None, None


def find_in_dlq(ch, marker, dlq='payments.dlq'):
    """Read the DLQ until the marked message appears; ack it and return its x-death."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        method, props, body = wait_get(ch, dlq, timeout=2)
        if method is None:
            continue
        ch.basic_ack(method.delivery_tag)
        if body.decode() == marker:
            return (props.headers or {}).get('x-death')
    return None


def publish_marked(ch, routing_key, exchange='flash.events'):
    marker = 'msg-' + uuid.uuid4().hex
    ch.confirm_delivery()
    ch.basic_publish(exchange, routing_key, marker.encode(), mandatory=True,
                     properties=pika.BasicProperties(delivery_mode=2))
    return marker


def take(ch, queue, marker):
    """Get messages from queue until the marked one, requeueing (nack) others."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        method, props, body = wait_get(ch, queue, timeout=2)
        if method is None:
            continue
        if body.decode() == marker:
            return method, props
        ch.basic_nack(method.delivery_tag, requeue=True)
    raise SystemExit('marked message never arrived in %s' % queue)


def xdeath_summary(xdeath):
    if not xdeath:
        return None
    return [{'reason': d.get('reason'), 'queue': d.get('queue'), 'count': d.get('count')} for d in xdeath]


def reject(user, password):
    conn, ch = channel(user, password)
    marker = publish_marked(ch, 'payment.reject')
    method, dummy = take(ch, 'payments', marker)
    ch.basic_reject(method.delivery_tag, requeue=False)
    xdeath = find_in_dlq(ch, marker)
    conn.close()
    return {'marker': marker, 'in_dlq': xdeath is not None, 'x_death': xdeath_summary(xdeath)}


def poison(user, password):
    conn, ch = channel(user, password)
    marker = publish_marked(ch, 'payment.poison')
    deliveries = 0
    while True:
        method, props, body = wait_get(ch, 'payments', timeout=3)
        if method is None:
            break  # gone from the queue
        if body.decode() != marker:
            ch.basic_nack(method.delivery_tag, requeue=True)
            continue
        deliveries += 1
        ch.basic_nack(method.delivery_tag, requeue=True)  # the consumer "crashes" on it every time
        if deliveries > 50:
            break
    xdeath = find_in_dlq(ch, marker)
    conn.close()
    return {'marker': marker, 'deliveries': deliveries, 'in_dlq': xdeath is not None,
            'x_death': xdeath_summary(xdeath)}


def connect(user, password, vhost, port='5672'):
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters(
            host='127.0.0.1', port=int(port), virtual_host=vhost, credentials=pika.PlainCredentials(user, password),
            connection_attempts=1))
    except pika.exceptions.ProbableAuthenticationError as e:
        return {'opened': False, 'error': 'ACCESS_REFUSED', 'detail': str(e)}
    except pika.exceptions.ProbableAccessDeniedError as e:
        return {'opened': False, 'error': 'ACCESS_REFUSED', 'detail': str(e)}
    except pika.exceptions.ConnectionClosedByBroker as e:
        return {'opened': False, 'error': 'CLOSED_BY_BROKER', 'code': e.reply_code, 'detail': e.reply_text}
    conn.close()
    return {'opened': True}


def fill(user, password, queue, count):
    conn, ch = channel(user, password)
    ch.confirm_delivery()
    for i in range(count):
        ch.basic_publish('', queue, str(i).encode(), mandatory=True,
                         properties=pika.BasicProperties(delivery_mode=2))
    conn.close()
    return {'published': count}


def count(user, password, queue):
    conn, ch = channel(user, password)
    n = ch.queue_declare(queue, passive=True).method.message_count
    conn.close()
    return {'messages': n}


def overflow(user, password, queue, limit):
    """Publish with confirms until the broker refuses one: max-length + overflow=reject-publish
    answers with a nack (basic.nack), which is what a publisher of the app must see."""
    conn, ch = channel(user, password)
    before = ch.queue_declare(queue, passive=True).method.message_count
    ch.confirm_delivery()
    accepted, nacked = 0, False
    for i in range(limit):
        try:
            ch.basic_publish('', queue, ('overflow-%d' % i).encode(), mandatory=True,
                             properties=pika.BasicProperties(delivery_mode=2))
        except pika.exceptions.NackError:
            nacked = True
            break
        accepted += 1
    depth = ch.queue_declare(queue, passive=True).method.message_count
    ch.queue_purge(queue)
    conn.close()
    return {'queue': queue, 'before': before, 'accepted': accepted, 'nacked': nacked, 'depth': depth}


def declare(user, password, queue):
    """What the upstream app's EventsService does: assertQueue(name, {durable: true})."""
    conn, ch = channel(user, password)
    try:
        ch.queue_declare(queue, durable=True)
    except pika.exceptions.ChannelClosedByBroker as e:
        conn.close()
        return {'declared': False, 'code': e.reply_code, 'detail': e.reply_text}
    conn.close()
    return {'declared': True}


def deadletter(user, password, exchange, routing_key, queue, dlq):
    conn, ch = channel(user, password)
    marker = publish_marked(ch, routing_key, exchange)
    method, dummy = take(ch, queue, marker)
    ch.basic_reject(method.delivery_tag, requeue=False)
    xdeath = find_in_dlq(ch, marker, dlq)
    conn.close()
    return {'marker': marker, 'in_dlq': xdeath is not None, 'x_death': xdeath_summary(xdeath)}


def main(argv):
    cmd, user, password = argv[1], argv[2], argv[3]
    rest = argv[4:]
    if cmd == 'publish':
        out = publish(user, password, rest[0], float(rest[1]), int(rest[2]), rest[3])
    elif cmd == 'drain':
        out = drain(user, password, rest[0], rest[1])
    elif cmd == 'reject':
        out = reject(user, password)
    elif cmd == 'poison':
        out = poison(user, password)
    elif cmd == 'connect':
        out = connect(user, password, *rest[:2])
    elif cmd == 'fill':
        out = fill(user, password, rest[0], int(rest[1]))
    elif cmd == 'count':
        out = count(user, password, rest[0])
    elif cmd == 'overflow':
        out = overflow(user, password, rest[0], int(rest[1]))
    elif cmd == 'declare':
        out = declare(user, password, rest[0])
    elif cmd == 'deadletter':
        out = deadletter(user, password, rest[0], rest[1], rest[2], rest[3])
    else:
        raise SystemExit('unknown command %s' % cmd)
    print(json.dumps(out))


if __name__ == '__main__':
    main(sys.argv)
