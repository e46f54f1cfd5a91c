# Test client for the app_endpoints scenario, run on the app host with `python3 endpoint_client.py`.
# It talks to the local endpoints (127.0.0.1) and, for the checks behind them, directly to the
# Redis hosts on the scenario network. Every command prints one JSON object.
# Passwords come from the environment: REDIS_APP_PASSWORD, REDIS_ADMIN_PASSWORD, AMQP_URL.
import argparse
import json
import os
import socket
import time
import uuid

STATS_SOCKET = "/run/haproxy/admin.sock"
ENDPOINT = "127.0.0.1"


def show_stat(path=STATS_SOCKET):
    """Return {proxy: {server: status}} from the runtime API's `show stat`."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(path)
    sock.sendall(b"show stat\n")
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    sock.close()
    lines = b"".join(chunks).decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    result = {}
    for line in lines[1:]:
        if not line:
            continue
        row = dict(zip(header, line.split(",")))
        if row["svname"] in ("FRONTEND", "BACKEND"):
            continue
        result.setdefault(row["pxname"], {})[row["svname"]] = row["status"]
    return result


def wait_status(proxy, expected, timeout):
    """Wait until every server of proxy has the expected status; report how long it took."""
    start = time.monotonic()
    seen = {}
    while True:
        seen = show_stat().get(proxy, {})
        if all(seen.get(name) == status for name, status in expected.items()):
            return {"reached": True, "seconds": round(time.monotonic() - start, 2), "status": seen}
        if time.monotonic() - start > timeout:
            return {"reached": False, "seconds": round(time.monotonic() - start, 2), "status": seen}
        time.sleep(0.2)


def redis_direct(host, port):
    import redis
    return redis.Redis(host=host, port=port, username="flash-admin",
                       password=os.environ["REDIS_ADMIN_PASSWORD"], socket_timeout=3,
                       socket_connect_timeout=3, decode_responses=True)


def redis_endpoint(port):
    import redis
    return redis.Redis(host=ENDPOINT, port=port, username="flash-app",
                       password=os.environ["REDIS_APP_PASSWORD"], socket_timeout=2,
                       socket_connect_timeout=2, decode_responses=True)


def resp(*args):
    """One command in RESP, for the raw socket below."""
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def cmd_redis_route(opts):
    """Write through the endpoint, then look at which host holds the client and the key."""
    name = "ep-route-" + uuid.uuid4().hex[:8]
    client = redis_endpoint(opts.port)
    client.client_setname(name)
    written = client.set(name, "routed")
    report = {"write_ok": bool(written), "client_name": name, "hosts": {}}
    for host in opts.hosts.split(","):
        direct = redis_direct(host, opts.redis_port)
        clients = [entry.get("name") for entry in direct.client_list()]
        report["hosts"][host] = {
            "role": direct.execute_command("ROLE")[0],
            "holds_client": name in clients,
            "value": direct.get(name),
        }
    client.close()
    return report


def master_offset_reached(old, new):
    """True when the replica has everything the master has acknowledged."""
    master = old.info("replication")["master_repl_offset"]
    replica = new.info("replication")["master_repl_offset"]
    return master == replica


def cmd_redis_failover(opts):
    """Switch the master from old to new directly, keep writing through the endpoint.

    Reports the time from the switch to the first write the endpoint accepts, the errors
    before and after it, whether a connection held open to the old master was cut, and
    whether every acknowledged write is on the new master.
    """
    old = redis_direct(opts.old, opts.redis_port)
    new = redis_direct(opts.new, opts.redis_port)
    client = redis_endpoint(opts.port)
    prefix = "ep-failover-" + uuid.uuid4().hex[:8]

    # A connection that stays open across the switch, idle: the endpoint must cut it.
    held = socket.create_connection((ENDPOINT, opts.port), timeout=3)
    held.sendall(resp("AUTH", "flash-app", os.environ["REDIS_APP_PASSWORD"]) + resp("PING"))
    greeting = b""
    while greeting.count(b"\r\n") < 2:
        greeting += held.recv(1024)

    acknowledged = []
    counter = 0
    for counter in range(20):
        key = "%s:%d" % (prefix, counter)
        client.set(key, counter)
        acknowledged.append(key)

    # The old master stops taking writes only when it becomes a replica, so wait until the
    # new one has every acknowledged write before switching (as Sentinel's failover does).
    deadline = time.monotonic() + 5
    while not master_offset_reached(old, new) and time.monotonic() < deadline:
        time.sleep(0.05)
    in_sync = master_offset_reached(old, new)

    switch = time.monotonic()
    new.execute_command("REPLICAOF", "NO", "ONE")
    old.execute_command("REPLICAOF", opts.new, str(opts.redis_port))

    first_ok = None
    errors_before = {}
    errors_after = {}
    writes_after = 0
    while True:
        now = time.monotonic()
        if first_ok is None and now - switch > opts.bound:
            break
        if first_ok is not None and now - first_ok > opts.keep_writing:
            break
        counter += 1
        key = "%s:%d" % (prefix, counter)
        try:
            client.set(key, counter)
        except Exception as error:  # any failure counts; its class says which
            kind = type(error).__name__
            errors = errors_before if first_ok is None else errors_after
            errors[kind] = errors.get(kind, 0) + 1
            time.sleep(0.05)
            continue
        acknowledged.append(key)
        if first_ok is None:
            first_ok = time.monotonic()
        else:
            writes_after += 1
        time.sleep(0.01)

    held.settimeout(opts.bound)
    try:
        held_state = "cut" if held.recv(1024) == b"" else "answered"
    except ConnectionResetError:
        held_state = "cut"
    except socket.timeout:
        held_state = "open"
    held.close()

    deadline = time.monotonic() + 5
    missing = acknowledged
    while missing and time.monotonic() < deadline:
        values = new.mget(acknowledged)
        missing = [key for key, value in zip(acknowledged, values) if value is None]
        if missing:
            time.sleep(0.2)
    client.close()
    return {
        "replica_in_sync_before_switch": in_sync,
        "follow_seconds": None if first_ok is None else round(first_ok - switch, 3),
        "errors_before_first_write": errors_before,
        "errors_after_first_write": errors_after,
        "writes_after_first": writes_after,
        "held_connection": held_state,
        "acknowledged": len(acknowledged),
        "missing_on_new_master": len(missing),
        "roles": {opts.old: old.execute_command("ROLE")[0], opts.new: new.execute_command("ROLE")[0]},
    }


def cmd_redis_replication(opts):
    """Role and number of connected replicas of each Redis host, asked directly."""
    report = {}
    for host in opts.hosts.split(","):
        info = redis_direct(host, opts.redis_port).info("replication")
        report[host] = {"role": info["role"], "connected_slaves": info["connected_slaves"]}
    return report


def cmd_redis_replicaof(opts):
    """REPLICAOF on host, as the admin user: `--master none` promotes it, else it follows."""
    direct = redis_direct(opts.host, opts.redis_port)
    if opts.master == "none":
        answer = direct.execute_command("REPLICAOF", "NO", "ONE")
    else:
        answer = direct.execute_command("REPLICAOF", opts.master, str(opts.redis_port))
    return {"host": opts.host, "master": opts.master, "answer": answer,
            "role": direct.execute_command("ROLE")[0]}


def cmd_redis_probe_endpoint(opts):
    """Open a connection through the endpoint, AUTH and PING, and say what came back.

    `ended` is closed (EOF), reset, or timeout; `answer` is every byte received.
    """
    start = time.monotonic()
    try:
        sock = socket.create_connection((ENDPOINT, opts.port), timeout=opts.timeout)
    except OSError as error:
        return {"connected": False, "ended": type(error).__name__, "answer": ""}
    answer = b""
    ended = "closed"
    try:
        sock.sendall(resp("AUTH", "flash-app", os.environ["REDIS_APP_PASSWORD"]) + resp("PING"))
        while True:
            data = sock.recv(1024)
            if not data:
                break
            answer += data
            if answer.count(b"\r\n") >= 2:
                ended = "answered"
                break
    except (ConnectionResetError, BrokenPipeError):
        ended = "reset"
    except socket.timeout:
        ended = "timeout"
    sock.close()
    return {"connected": True, "ended": ended, "answer": answer.decode(errors="replace"),
            "seconds": round(time.monotonic() - start, 2)}


def cmd_amqp(opts):
    """Open count new connections through the endpoint, each publishing with confirms."""
    import pika
    params = pika.URLParameters(os.environ["AMQP_URL"])
    params.connection_attempts = 1
    params.socket_timeout = 3
    params.blocked_connection_timeout = 5
    report = {"ok": 0, "failed": 0, "errors": {}, "nodes": {}}
    for number in range(opts.count):
        try:
            connection = pika.BlockingConnection(params)
            node = connection._impl.server_properties.get("cluster_name", "?")
            if isinstance(node, bytes):
                node = node.decode()
            channel = connection.channel()
            channel.confirm_delivery()
            channel.queue_declare(queue="ep-endpoint-test", durable=True)
            channel.basic_publish(exchange="", routing_key="ep-endpoint-test",
                                  body=("message %d" % number).encode(), mandatory=True,
                                  properties=pika.BasicProperties(delivery_mode=2))
            channel.queue_purge(queue="ep-endpoint-test")
            connection.close()
        except Exception as error:  # any failure counts; its class says which
            kind = type(error).__name__
            report["failed"] += 1
            report["errors"][kind] = report["errors"].get(kind, 0) + 1
            continue
        report["ok"] += 1
        report["nodes"][node] = report["nodes"].get(node, 0) + 1
    return report


def cmd_probe(opts):
    """Send the AMQP header straight to host:port and return what comes back, in hex."""
    try:
        sock = socket.create_connection((opts.host, opts.tcp_port), timeout=3)
    except OSError as error:
        return {"connected": False, "error": type(error).__name__}
    sock.sendall(b"AMQP\x00\x00\x09\x01")
    try:
        data = sock.recv(64)
    except socket.timeout:
        data = b""
    sock.close()
    return {"connected": True, "answer_hex": data.hex()}


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)

    stats = commands.add_parser("stats")
    stats.set_defaults(run=lambda opts: show_stat())

    wait = commands.add_parser("wait-status")
    wait.add_argument("--proxy", required=True)
    wait.add_argument("--expect", required=True, help="server=STATUS,server=STATUS")
    wait.add_argument("--timeout", type=float, default=20)
    wait.set_defaults(run=lambda opts: wait_status(
        opts.proxy, dict(pair.split("=", 1) for pair in opts.expect.split(",")), opts.timeout))

    route = commands.add_parser("redis-route")
    route.add_argument("--port", type=int, default=6379)
    route.add_argument("--redis-port", type=int, default=6379)
    route.add_argument("--hosts", required=True)
    route.set_defaults(run=cmd_redis_route)

    failover = commands.add_parser("redis-failover")
    failover.add_argument("--port", type=int, default=6379)
    failover.add_argument("--redis-port", type=int, default=6379)
    failover.add_argument("--old", required=True)
    failover.add_argument("--new", required=True)
    failover.add_argument("--bound", type=float, default=10)
    failover.add_argument("--keep-writing", type=float, default=3)
    failover.set_defaults(run=cmd_redis_failover)

    replication = commands.add_parser("redis-replication")
    replication.add_argument("--redis-port", type=int, default=6379)
    replication.add_argument("--hosts", required=True)
    replication.set_defaults(run=cmd_redis_replication)

    replicaof = commands.add_parser("redis-replicaof")
    replicaof.add_argument("--redis-port", type=int, default=6379)
    replicaof.add_argument("--host", required=True)
    replicaof.add_argument("--master", required=True, help="a host, or none")
    replicaof.set_defaults(run=cmd_redis_replicaof)

    probe_redis = commands.add_parser("redis-probe-endpoint")
    probe_redis.add_argument("--port", type=int, default=6379)
    probe_redis.add_argument("--timeout", type=float, default=5)
    probe_redis.set_defaults(run=cmd_redis_probe_endpoint)

    amqp = commands.add_parser("amqp")
    amqp.add_argument("--count", type=int, default=10)
    amqp.set_defaults(run=cmd_amqp)

    probe = commands.add_parser("probe-amqp")
    probe.add_argument("--host", required=True)
    probe.add_argument("--tcp-port", type=int, default=5672)
    probe.set_defaults(run=cmd_probe)

    opts = parser.parse_args()
    print(json.dumps(opts.run(opts), sort_keys=True))


if __name__ == "__main__":
    main()
