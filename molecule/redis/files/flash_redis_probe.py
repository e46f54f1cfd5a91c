# Test client for the molecule/redis scenario. Runs INSIDE the scenario's client container
# and talks only to the scenario's hosts. Prints one JSON document; the playbooks assert on it.
# Credentials come from the environment (FLASH_*), never from the command line.
import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import redis
from redis.sentinel import Sentinel

ENV = os.environ


def sentinel_conn(host, port):
    return redis.Redis(host=host, port=port, password=ENV['FLASH_SENTINEL_PW'],
                       socket_timeout=2, socket_connect_timeout=1, decode_responses=True)


def err(exc):
    return 'ERR:%s:%s' % (type(exc).__name__, exc)


def masters_view(hosts, port, names):
    view = {}
    for h in hosts:
        try:
            s = sentinel_conn(h, port)
            view[h] = {}
            for n in names:
                addr = s.execute_command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', n)
                view[h][n] = '%s:%s' % tuple(addr) if addr else None
        except Exception as exc:  # an unreachable Sentinel is part of the answer
            view[h] = err(exc)
    return view


def cmd_topology(a):
    out = {}
    for h in a.sentinels:
        try:
            s = sentinel_conn(h, a.sentinel_port)
            out[h] = {}
            for n in a.names:
                addr = s.execute_command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', n)
                replicas = s.execute_command('SENTINEL', 'REPLICAS', n)
                sentinels = s.execute_command('SENTINEL', 'SENTINELS', n)
                try:
                    ckq = s.execute_command('SENTINEL', 'CKQUORUM', n)
                except Exception as exc:
                    ckq = err(exc)

                def as_dict(x):
                    return x if isinstance(x, dict) else dict(zip(x[0::2], x[1::2]))
                replicas = [as_dict(r) for r in replicas]
                sentinels = [as_dict(r) for r in sentinels]
                out[h][n] = {
                    'master': '%s:%s' % tuple(addr) if addr else None,
                    'healthy_replicas': sorted(r['name'] for r in replicas
                                               if r.get('flags') == 'slave' and r.get('master-link-status') == 'ok'),
                    'other_sentinels': sorted(r['name'] for r in sentinels if r.get('flags') == 'sentinel'),
                    'ckquorum': ckq if isinstance(ckq, str) else str(ckq),
                }
        except Exception as exc:
            out[h] = err(exc)
    print(json.dumps(out))


def cmd_wait_failover(a):
    """Poll every Sentinel until all reachable ones name the same new master for every name."""
    deadline = time.time() + a.timeout
    view = {}
    while time.time() < deadline:
        view = masters_view(a.sentinels, a.sentinel_port, a.names)
        reachable = {h: v for h, v in view.items() if isinstance(v, dict)}
        masters = {n: {v[n] for v in reachable.values()} for n in a.names}
        if len(reachable) >= a.min_sentinels and all(
                len(m) == 1 and None not in m and not next(iter(m)).startswith(a.old + ':') for m in masters.values()):
            print(json.dumps({'agreed': True, 'elapsed': round(time.time() - a.since, 2), 'view': view,
                              'masters': {n: next(iter(m)) for n, m in masters.items()}}))
            return
        time.sleep(0.1)
    print(json.dumps({'agreed': False, 'elapsed': round(time.time() - a.since, 2), 'view': view}))


def app_user():
    """The app's ACL user name, or None in default-user mode (a password-only AUTH, as ioredis sends)."""
    return ENV.get('FLASH_APP_USER') or None


def app_client(host, port, password=None):
    return redis.Redis(host=host, port=port, username=app_user(),
                       password=password or ENV['FLASH_APP_PW'].split(',')[0],
                       socket_timeout=2, socket_connect_timeout=1, decode_responses=True)


def discover(a, name):
    s = Sentinel([(h, a.sentinel_port) for h in a.sentinels], socket_timeout=0.5,
                 sentinel_kwargs={'password': ENV['FLASH_SENTINEL_PW'], 'socket_timeout': 0.5})
    return s.discover_master(name)


def cmd_writer(a):
    """Sequential writes; a write counts only when WAIT says it reached enough replicas.

    Before the failover every write must be on all replicas (WAIT 2). Once Sentinel names a new
    master only one replica is left until the old master rejoins, so the writer asks WAIT 1 there:
    either way a write is counted only when it is on at least two nodes.
    """
    acked_full, acked_min, unacked, errors = [], [], 0, 0
    first_master, conn, master, last_ack, max_gap = None, None, None, None, (0.0, None)
    after_failover, first_new_ack = 0, None
    start = time.time()
    i = 0
    while time.time() - start < a.duration and i < a.max_writes:
        if conn is None:
            try:
                master = discover(a, a.name)
                conn = app_client(*master)
                first_master = first_master or master
            except Exception:
                errors += 1
                time.sleep(0.1)
                continue
        required = 2 if master == first_master else 1
        i += 1
        try:
            conn.set('fo:%d' % i, str(i))
            replicas = conn.execute_command('WAIT', required, a.wait_ms)
        except Exception:
            errors += 1
            conn = None
            time.sleep(0.05)
            continue
        if replicas >= 2:
            acked_full.append(i)
        elif replicas >= 1:
            acked_min.append(i)
        else:
            unacked += 1
            continue
        now = time.time()
        if last_ack is not None and now - last_ack > max_gap[0]:
            max_gap = (now - last_ack, '%s:%s' % master)
        last_ack = now
        if master != first_master:
            after_failover += 1
            first_new_ack = first_new_ack or now
            if after_failover >= a.after_failover_acks:
                break
        if (len(acked_full) + len(acked_min)) % 50 == 0:
            with open(a.progress, 'w') as f:
                json.dump({'acked': len(acked_full) + len(acked_min)}, f)
    result = {'acked_wait2': acked_full, 'acked_wait1': acked_min, 'unacked': unacked, 'errors': errors,
              'attempted': i, 'first_master': '%s:%s' % first_master if first_master else None,
              'last_master': '%s:%s' % master if master else None, 'acked_after_failover': after_failover,
              'max_gap_s': round(max_gap[0], 2), 'seconds': round(time.time() - start, 2),
              'first_new_master_ack_ts': first_new_ack}
    with open(a.out, 'w') as f:
        json.dump(result, f)
    print(json.dumps({k: (len(v) if isinstance(v, list) else v) for k, v in result.items()}))


def cmd_check(a):
    with open(a.input) as f:
        result = json.load(f)
    keys = sorted(result['acked_wait2'] + result['acked_wait1'])
    master = discover(a, a.name)
    conn = app_client(*master)
    missing = []
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        values = conn.mget(['fo:%d' % k for k in chunk])
        missing += [k for k, v in zip(chunk, values) if v != str(k)]
    print(json.dumps({'master': '%s:%s' % master, 'checked': len(keys),
                      'checked_wait2': len(result['acked_wait2']), 'missing_count': len(missing), 'missing': missing[:20]}))


def try_cmd(conn_factory, *args):
    try:
        conn = conn_factory()
        return 'OK:%s' % (conn.execute_command(*args),)
    except Exception as exc:
        return err(exc)


def cmd_acl(a):
    host, port = discover(a, a.name)
    old, new = ENV['FLASH_APP_PW'].split(',')

    def user(name, pw):
        return lambda: redis.Redis(host=host, port=port, username=name, password=pw, socket_timeout=2, decode_responses=True)
    app = user(app_user(), old)
    out = {
        'master': '%s:%s' % (host, port),
        'no_auth_ping': try_cmd(lambda: redis.Redis(host=host, port=port, socket_timeout=2), 'PING'),
        'app_whoami': try_cmd(app, 'ACL', 'WHOAMI'),
        'app_old_set': try_cmd(app, 'SET', 'acl:probe', 'old'),
        'app_old_get': try_cmd(app, 'GET', 'acl:probe'),
        'app_new_set': try_cmd(user(app_user(), new), 'SET', 'acl:probe', 'new'),
        'app_new_get': try_cmd(user(app_user(), new), 'GET', 'acl:probe'),
        'app_wait': try_cmd(app, 'WAIT', '0', '100'),
        'app_wrong_password': try_cmd(user(app_user(), 'not-the-password-at-all'), 'PING'),
        'app_config_get': try_cmd(app, 'CONFIG', 'GET', 'maxmemory'),
        'app_acl_list': try_cmd(app, 'ACL', 'LIST'),
        'app_flushall': try_cmd(app, 'FLUSHALL'),
        'app_keys': try_cmd(app, 'KEYS', '*'),
        'app_replicaof': try_cmd(app, 'REPLICAOF', 'NO', 'ONE'),
        'app_bgsave': try_cmd(app, 'BGSAVE'),
        'monitoring_info': try_cmd(user(ENV['FLASH_MON_USER'], ENV['FLASH_MON_PW']), 'INFO', 'server'),
        'monitoring_get': try_cmd(user(ENV['FLASH_MON_USER'], ENV['FLASH_MON_PW']), 'GET', 'acl:probe'),
        'monitoring_set': try_cmd(user(ENV['FLASH_MON_USER'], ENV['FLASH_MON_PW']), 'SET', 'acl:probe', 'x'),
        'replication_get': try_cmd(user(ENV['FLASH_REPL_USER'], ENV['FLASH_REPL_PW']), 'GET', 'acl:probe'),
        'sentinel_user_get': try_cmd(user(ENV['FLASH_SENT_USER'], ENV['FLASH_SENT_PW']), 'GET', 'acl:probe'),
        'sentinel_no_auth': try_cmd(lambda: redis.Redis(host=a.sentinels[0], port=a.sentinel_port, socket_timeout=2),
                                    'SENTINEL', 'MASTERS'),
    }
    out = {k: (v if len(v) < 200 else v[:200]) for k, v in out.items()}
    # What Redis itself holds for its users (issue 16.5: read the ACL, do not infer it from a
    # WRONGPASS, which a default user with any password also answers).
    admin = redis.Redis(host=host, port=port, username=ENV['FLASH_ADMIN_USER'], password=ENV['FLASH_ADMIN_PW'],
                        socket_timeout=2, decode_responses=True)
    out['getuser'] = {name: acl_getuser(admin, name) for name in ('default', 'flash-app')}
    print(json.dumps(out))


def acl_getuser(conn, name):
    """ACL GETUSER as a plain dict (flags/passwords lists, commands/keys/channels strings), None if absent."""
    reply = conn.execute_command('ACL', 'GETUSER', name)
    if reply is None:
        return None
    if not isinstance(reply, dict):
        reply = dict(zip(reply[0::2], reply[1::2]))
    out = {}
    for field in ('flags', 'passwords', 'commands', 'keys', 'channels'):
        value = reply.get(field)
        if isinstance(value, (bytes, str)):
            value = value.decode() if isinstance(value, bytes) else value
            out[field] = value if field in ('commands', 'keys', 'channels') else value.split()
        else:
            value = [v.decode() if isinstance(v, bytes) else v for v in (value or [])]
            out[field] = ' '.join(value) if field in ('commands', 'keys', 'channels') else value
    return out


def cmd_cache_evict(a):
    """Fill the cache well past maxmemory; allkeys-lru must evict instead of refusing writes."""
    host, port = discover(a, a.name)
    conn = app_client(host, port)
    payload = 'x' * 1024
    refused = 0
    for start in range(0, a.keys, 500):
        pipe = conn.pipeline(transaction=False)
        for k in range(start, min(start + 500, a.keys)):
            pipe.set('cache:%d' % k, payload, ex=30)
        for r in pipe.execute(raise_on_error=False):
            if isinstance(r, Exception):
                refused += 1
    admin = redis.Redis(host=host, port=port, username=ENV['FLASH_ADMIN_USER'], password=ENV['FLASH_ADMIN_PW'],
                        decode_responses=True)
    mem, stats = admin.info('memory'), admin.info('stats')
    print(json.dumps({'master': '%s:%s' % (host, port), 'written': a.keys, 'refused': refused,
                      'evicted_keys': stats['evicted_keys'], 'used_memory': mem['used_memory'],
                      'maxmemory': mem['maxmemory'], 'maxmemory_policy': mem['maxmemory_policy'], 'dbsize': admin.dbsize()}))


def cmd_marker(a):
    """Write a marker key through the master (counted only when WAIT says both replicas have it),
    or read it back from the master and from every host's instance."""
    master = discover(a, a.name)
    out = {'master': '%s:%s' % master}
    if a.set is not None:
        conn = app_client(*master)
        out['set'] = bool(conn.set(a.key, a.set))
        out['wait'] = conn.execute_command('WAIT', 2, 2000)
    else:
        out['values'] = {}
        for h in a.sentinels:
            try:
                out['values'][h] = app_client(h, master[1]).get(a.key)
            except Exception as exc:
                out['values'][h] = err(exc)
    print(json.dumps(out))


def cmd_poll(a):
    """Sample every host's instances every --interval s: which answer PING (PONG) and which not.

    Runs until --stop-file appears or --duration passes. Reports, per instance port, the most
    hosts seen down in one sample and each host's outages (first to last down sample).
    """
    targets = [(h, p) for p in a.ports for h in a.sentinels]

    def ping(target):
        host, port = target
        try:
            conn = redis.Redis(host=host, port=port, username=ENV['FLASH_MON_USER'], password=ENV['FLASH_MON_PW'],
                               socket_timeout=a.timeout, socket_connect_timeout=a.timeout)
            try:
                return conn.ping() is True
            finally:
                conn.close()
        except Exception:
            return False
    samples, down_now, outages = [], {}, {'%s:%d' % t: [] for t in targets}
    max_down = {str(p): 0 for p in a.ports}
    start = time.time()
    for stale in (a.stop_file, a.ready_file):
        if os.path.exists(stale):
            os.unlink(stale)
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        while time.time() - start < a.duration and not os.path.exists(a.stop_file):
            tick = time.time()
            answers = dict(zip(targets, pool.map(ping, targets)))
            samples.append(tick)
            for p in a.ports:
                down = [h for h in a.sentinels if not answers[(h, p)]]
                max_down[str(p)] = max(max_down[str(p)], len(down))
            for t, ok in answers.items():
                key = '%s:%d' % t
                if not ok:
                    if key not in down_now:
                        down_now[key] = [tick, tick, 0]
                    down_now[key][1] = tick
                    down_now[key][2] += 1
                elif key in down_now:
                    first, last, count = down_now.pop(key)
                    outages[key].append({'first_down': round(first - start, 3), 'last_down': round(last - start, 3),
                                         'up_again': round(tick - start, 3), 'samples': count})
            if len(samples) == 1:
                with open(a.ready_file, 'w') as f:
                    f.write('ready')
            time.sleep(max(0.0, a.interval - (time.time() - tick)))
    gaps = [b - x for x, b in zip(samples, samples[1:])]
    print(json.dumps({'samples': len(samples), 'seconds': round(time.time() - start, 2),
                      'max_gap_s': round(max(gaps), 3) if gaps else None,
                      'mean_gap_s': round(sum(gaps) / len(gaps), 3) if gaps else None,
                      'max_hosts_down_at_once': max_down, 'outages': outages,
                      'still_down': sorted(down_now), 'stopped_by_file': os.path.exists(a.stop_file)}))


def text(reply):
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def cmd_hold(a):
    """Hold one monitoring-user connection to every instance until --stop-file appears, then PING
    on the same sockets: a connection Redis dropped meanwhile (ACL LOAD does that) fails."""
    from redis.connection import Connection
    for stale in (a.stop_file, a.ready_file):
        if os.path.exists(stale):
            os.unlink(stale)
    targets = [(h, p) for p in a.ports for h in a.sentinels]
    conns = {}
    for host, port in targets:
        c = Connection(host=host, port=port, username=ENV['FLASH_MON_USER'], password=ENV['FLASH_MON_PW'],
                       socket_timeout=2, socket_connect_timeout=2, retry_on_timeout=False)
        c.connect()
        c.send_command('PING')
        conns['%s:%d' % (host, port)] = (c, text(c.read_response()))
    with open(a.ready_file, 'w') as f:
        f.write('ready')
    start = time.time()
    while not os.path.exists(a.stop_file) and time.time() - start < a.duration:
        time.sleep(0.2)
    out = {}
    for key, (c, first) in conns.items():
        sock = c._sock
        try:
            c.send_command('PING')
            out[key] = {'first': first, 'after': text(c.read_response()), 'same_socket': c._sock is sock}
        except Exception as exc:
            out[key] = {'first': first, 'after': err(exc), 'same_socket': False}
    print(json.dumps(out))


def cmd_sync_stats(a):
    """sync_full and sync_partial_ok of every instance (INFO stats, admin user)."""
    out = {}
    for port in a.ports:
        for host in a.sentinels:
            admin = redis.Redis(host=host, port=port, username=ENV['FLASH_ADMIN_USER'], password=ENV['FLASH_ADMIN_PW'],
                                socket_timeout=2, decode_responses=True)
            stats = admin.info('stats')
            out['%s:%d' % (host, port)] = {'sync_full': stats['sync_full'], 'sync_partial_ok': stats['sync_partial_ok']}
    print(json.dumps(out))


def cmd_replication(a):
    """INFO replication of every host's instances, as each instance itself reports it (admin user)."""
    out = {}
    for port in a.ports:
        for host in a.sentinels:
            key = '%s:%d' % (host, port)
            try:
                admin = redis.Redis(host=host, port=port, username=ENV['FLASH_ADMIN_USER'], password=ENV['FLASH_ADMIN_PW'],
                                    socket_timeout=2, socket_connect_timeout=1, decode_responses=True)
                info = admin.info('replication')
                out[key] = {k: info.get(k) for k in ('role', 'master_host', 'master_link_status', 'connected_slaves')}
            except Exception as exc:
                out[key] = err(exc)
    print(json.dumps(out))


def cmd_sentinel_health(a):
    """SENTINEL MASTER / REPLICAS / CKQUORUM as every Sentinel holds them: the master's flags,
    num-other-sentinels and last-ok-ping-reply, each replica's flags."""
    out = {}
    for h in a.sentinels:
        try:
            s = sentinel_conn(h, a.sentinel_port)
            out[h] = {}
            for n in a.names:
                m = s.execute_command('SENTINEL', 'MASTER', n)
                m = m if isinstance(m, dict) else dict(zip(m[0::2], m[1::2]))
                reps = s.execute_command('SENTINEL', 'REPLICAS', n)
                reps = [r if isinstance(r, dict) else dict(zip(r[0::2], r[1::2])) for r in reps]
                try:
                    ckq = str(s.execute_command('SENTINEL', 'CKQUORUM', n))
                except Exception as exc:
                    ckq = err(exc)
                out[h][n] = {'flags': m.get('flags'), 'num_other_sentinels': int(m.get('num-other-sentinels', -1)),
                             'last_ok_ping_reply': int(m.get('last-ok-ping-reply', -1)),
                             'replica_flags': sorted(r.get('flags') for r in reps),
                             'replica_last_ok_ping_reply': sorted(int(r.get('last-ok-ping-reply', -1)) for r in reps),
                             'ckquorum': ckq}
        except Exception as exc:
            out[h] = err(exc)
    print(json.dumps(out))


def cmd_kill_user(a):
    """CLIENT KILL USER <user> on every host's instances (admin user): the user's clients must
    reconnect and authenticate again with what they hold."""
    out = {}
    for port in a.ports:
        for host in a.sentinels:
            admin = redis.Redis(host=host, port=port, username=ENV['FLASH_ADMIN_USER'], password=ENV['FLASH_ADMIN_PW'],
                                socket_timeout=2, decode_responses=True)
            out['%s:%d' % (host, port)] = admin.execute_command('CLIENT', 'KILL', 'USER', a.user)
    print(json.dumps({'killed': out, 'at': time.time()}))


def cmd_auth(a):
    """AUTH <user> <password> on every host's instances for each password in FLASH_AUTH_PWS (a JSON
    list): 'OK' or the error, by password index (the passwords themselves are never printed)."""
    pws = json.loads(ENV['FLASH_AUTH_PWS'])
    out = {}
    for port in a.ports:
        for host in a.sentinels:
            key = '%s:%d' % (host, port)
            out[key] = []
            for pw in pws:
                try:
                    conn = redis.Redis(host=host, port=port, socket_timeout=2, socket_connect_timeout=1)
                    out[key].append('OK' if conn.execute_command('AUTH', a.user, pw) else 'FALSE')
                except Exception as exc:
                    out[key].append(err(exc)[:120])
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--sentinels', nargs='+', default=['redis-1', 'redis-2', 'redis-3'])
    p.add_argument('--sentinel-port', type=int, default=26379)
    p.add_argument('--names', nargs='+', default=['flash-session', 'flash-cache'])
    p.add_argument('--name', default='flash-session')
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('topology')
    w = sub.add_parser('wait-failover')
    w.add_argument('--old', required=True)
    w.add_argument('--since', type=float, required=True)
    w.add_argument('--timeout', type=float, default=30)
    w.add_argument('--min-sentinels', type=int, default=2)
    wr = sub.add_parser('writer')
    wr.add_argument('--duration', type=float, default=60)
    wr.add_argument('--max-writes', type=int, default=200000)
    wr.add_argument('--wait-ms', type=int, default=1000)
    wr.add_argument('--after-failover-acks', type=int, default=300)
    wr.add_argument('--out', default='/tmp/flash-writer.json')
    wr.add_argument('--progress', default='/tmp/flash-writer.progress')
    c = sub.add_parser('check')
    c.add_argument('--input', default='/tmp/flash-writer.json')
    sub.add_parser('acl')
    e = sub.add_parser('cache-evict')
    e.add_argument('--keys', type=int, default=20000)
    m = sub.add_parser('marker')
    m.add_argument('--key', default='restart:marker')
    m.add_argument('--set', default=None)
    po = sub.add_parser('poll')
    po.add_argument('--ports', type=int, nargs='+', default=[6379, 6380])
    po.add_argument('--interval', type=float, default=0.2)
    po.add_argument('--timeout', type=float, default=0.5)
    po.add_argument('--duration', type=float, default=240)
    po.add_argument('--stop-file', default='/tmp/flash-poll.stop')
    po.add_argument('--ready-file', default='/tmp/flash-poll.ready')
    ho = sub.add_parser('hold')
    ho.add_argument('--ports', type=int, nargs='+', default=[6379, 6380])
    ho.add_argument('--duration', type=float, default=600)
    ho.add_argument('--stop-file', default='/tmp/flash-hold.stop')
    ho.add_argument('--ready-file', default='/tmp/flash-hold.ready')
    ss = sub.add_parser('sync-stats')
    ss.add_argument('--ports', type=int, nargs='+', default=[6379, 6380])
    for name in ('replication', 'kill-user', 'auth'):
        sp = sub.add_parser(name)
        sp.add_argument('--ports', type=int, nargs='+', default=[6379, 6380])
        if name != 'replication':
            sp.add_argument('--user', required=True)
    sub.add_parser('sentinel-health')
    a = p.parse_args()
    {'topology': cmd_topology, 'wait-failover': cmd_wait_failover, 'writer': cmd_writer, 'check': cmd_check,
     'acl': cmd_acl, 'cache-evict': cmd_cache_evict,
     'marker': cmd_marker, 'poll': cmd_poll, 'hold': cmd_hold, 'sync-stats': cmd_sync_stats,
     'replication': cmd_replication, 'sentinel-health': cmd_sentinel_health, 'kill-user': cmd_kill_user,
     'auth': cmd_auth}[a.cmd](a)


if __name__ == '__main__':
    main()
