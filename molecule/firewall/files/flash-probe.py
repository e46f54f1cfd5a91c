# Probe TCP ports of one host: "open" (connected and echoed), "refused" (a RST: reachable but
# closed - the firewall did not drop it) or "filtered" (no answer within the timeout: dropped).
# Usage: python3 flash-probe.py HOST TIMEOUT PORT... ; prints {"port": "state", ...} as JSON.
# With "hold HOST PORT SECONDS FILE": open one connection, write FILE when it is open, then
# every second send a line and expect it back; exit 0 only if every echo came back.
import json
import socket
import sys
import time


def probe(host, port, timeout):
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return 'refused'
    except (socket.timeout, TimeoutError):
        return 'filtered'
    except OSError as exc:
        return 'error: %s' % exc
    try:
        conn.settimeout(timeout)
        conn.sendall(b'ping\n')
        return 'open' if conn.recv(16) == b'ping\n' else 'open-no-echo'
    except OSError:
        return 'open-no-echo'
    finally:
        conn.close()


def hold(host, port, seconds, ready):
    conn = socket.create_connection((host, int(port)), timeout=5)
    conn.settimeout(5)
    with open(ready, 'w') as handle:
        handle.write('open\n')
    deadline = time.time() + float(seconds)
    sent = 0
    while time.time() < deadline:
        line = ('line %d\n' % sent).encode()
        conn.sendall(line)
        if conn.recv(64) != line:
            print(json.dumps({'held': False, 'echoes': sent}))
            return 1
        sent += 1
        time.sleep(1)
    print(json.dumps({'held': True, 'echoes': sent}))
    return 0


if __name__ == '__main__':
    if sys.argv[1] == 'hold':
        sys.exit(hold(*sys.argv[2:6]))
    host, timeout = sys.argv[1], float(sys.argv[2])
    print(json.dumps(dict((port, probe(host, int(port), timeout)) for port in sys.argv[3:])))
