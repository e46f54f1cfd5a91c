"""Client for the app scenario's verify: real requests to the app containers, and reads of
Redis and RabbitMQ to see what the app did. Runs inside the scenario network (on the app
host). Prints one JSON document; never prints the credentials it reads from its config.

    python3 app-check.py CONFIG health URL...   status and JSON body of each URL
    python3 app-check.py CONFIG behaviour       cache, event and metrics checks against CONFIG's endpoints
"""
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

import pika
import redis


def request(url, method='GET', body=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'application/json'})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw, headers = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), exc.headers
    except OSError as exc:
        return {'url': url, 'status': None, 'error': str(exc)}
    # The release and colour that answered: test-only headers of the reference app (its
    # /health body, like the real app's, says nothing but {"status": "ok"}).
    result = {'url': url, 'status': status, 'ms': round((time.monotonic() - start) * 1000, 1),
              'version': headers.get('X-Reference-App-Version'), 'colour': headers.get('X-Reference-App-Colour')}
    try:
        result['json'] = json.loads(raw)
    except ValueError:
        result['text'] = raw.decode(errors='replace')
    return result


def health(urls):
    return {'results': [request(u) for u in urls]}


def metrics_lines(text, route):
    return [line for line in text.splitlines()
            if line.startswith('http_request_') and 'route="%s"' % route in line]


def behaviour(cfg):
    out = {}
    first, second = cfg['endpoints'][0], cfg['endpoints'][-1]
    rds = redis.Redis(host=cfg['redis']['host'], port=cfg['redis']['port'], password=cfg['redis']['password'],
                      socket_timeout=3)
    user = 'verify-%s' % uuid.uuid4().hex[:12]
    key = 'flash:balance:%s' % user

    # Cache: a miss goes to the wallet and fills Redis; the next call (on another replica)
    # is a hit within the TTL; once the key is gone it is a miss again.
    out['key_before'] = rds.exists(key)
    call1 = request('http://%s/api/balance?user=%s' % (first, user))
    ttl_after_first = rds.ttl(key)
    cached = rds.get(key)
    call2 = request('http://%s/api/balance?user=%s' % (second, user))
    rds.delete(key)
    call3 = request('http://%s/api/balance?user=%s' % (first, user))
    out['cache'] = {
        'first': call1, 'second': call2, 'after_delete': call3,
        'ttl': ttl_after_first,
        'cached_balance': json.loads(cached)['balance_sats'] if cached else None,
        'ttl_after_refill': rds.ttl(key),
    }

    # Event: a queue of our own bound to the app's topic exchange sees the command's event,
    # once; the app's own durable queue (RABBITMQ_QUEUE_NAME) holds one more.
    params = pika.URLParameters(cfg['rabbitmq_url'])
    params.socket_timeout = 5
    conn = pika.BlockingConnection(params)
    chan = conn.channel()
    chan.exchange_declare(cfg['exchange'], exchange_type='topic', durable=True)
    q = chan.queue_declare('', exclusive=True, auto_delete=True).method.queue
    chan.queue_bind(q, cfg['exchange'], routing_key='event.#')
    queued_before = chan.queue_declare(cfg['queue'], passive=True).method.message_count
    command_id = str(uuid.uuid4())
    answer = request('http://%s/api/commands' % first, 'POST', {'user': user, 'command': 'balance', 'id': command_id})
    matches, others, deadline = [], 0, time.monotonic() + 10
    while time.monotonic() < deadline:
        method, props, body = chan.basic_get(q, auto_ack=True)
        if method is None:
            if matches:
                # One more short look for a duplicate, then stop.
                time.sleep(1)
                method, props, body = chan.basic_get(q, auto_ack=True)
                if method is None:
                    break
            else:
                time.sleep(0.2)
                continue
        event = json.loads(body)
        if event.get('data', {}).get('id') == command_id:
            matches.append({'routing_key': method.routing_key, 'event': event,
                            'delivery_mode': props.delivery_mode, 'content_type': props.content_type})
        else:
            others += 1
    queued_after = chan.queue_declare(cfg['queue'], passive=True).method.message_count
    conn.close()
    out['event'] = {'answer': answer, 'id': command_id, 'matches': matches, 'others': others,
                    'queued': queued_after - queued_before}

    # Metrics: the histogram carries the balance route with its labels.
    metrics = request('http://%s/metrics' % first)
    out['metrics'] = {'status': metrics['status'], 'lines': metrics_lines(metrics.get('text', ''), '/api/balance')}
    return out


def main():
    with open(sys.argv[1]) as handle:
        cfg = json.load(handle)
    mode = sys.argv[2]
    result = health(sys.argv[3:]) if mode == 'health' else behaviour(cfg)
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()
