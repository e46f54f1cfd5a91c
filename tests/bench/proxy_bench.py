# Copyright: Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load the backend directly and through the proxy (TLS + WAF) in the same run.

Runs inside the Molecule proxy scenario's client container (tests/bench/proxy_bench.sh copies
it there). Each worker process keeps one keep-alive connection and sends GETs without pause for
the given time; latencies of every request are collected. Prints a JSON summary per target.
"""
import argparse
import http.client
import json
import multiprocessing
import ssl
import time
from urllib.parse import urlsplit


def worker(url, cafile, seconds, queue):
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query

    def connect():
        if parts.scheme == "https":
            ctx = ssl.create_default_context(cafile=cafile)
            return http.client.HTTPSConnection(parts.hostname, parts.port or 443, context=ctx, timeout=10)
        return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)

    latencies, exceptions, statuses = [], 0, {}
    conn = connect()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            conn.request("GET", path, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append(time.monotonic() - start)
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = connect()
        except Exception:  # counted as an error, then a fresh connection
            exceptions += 1
            conn.close()
            conn = connect()
    conn.close()
    queue.put((latencies, exceptions, statuses))


def percentile(sorted_values, pct):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(round(pct / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[index]


def run(url, cafile, seconds, concurrency):
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(url, cafile, seconds, queue)) for dummy in range(concurrency)]
    started = time.monotonic()
    for proc in procs:
        proc.start()
    results = [queue.get() for dummy in procs]
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - started
    latencies = sorted(lat for res in results for lat in res[0])
    exceptions = sum(res[1] for res in results)
    statuses = {}
    for res in results:
        for status, count in res[2].items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    total = len(latencies)
    attempts = total + exceptions
    errors = exceptions + sum(count for status, count in statuses.items() if not status.startswith("2"))
    return {
        "url": url,
        "seconds": round(elapsed, 2),
        "concurrency": concurrency,
        "requests": attempts,
        "errors": errors,
        "error_pct": round(100.0 * errors / max(attempts, 1), 3),
        "rps": round(total / elapsed, 1),
        "p50_ms": round(1000 * percentile(latencies, 50), 2) if latencies else None,
        "p95_ms": round(1000 * percentile(latencies, 95), 2) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 99), 2) if latencies else None,
        "statuses": statuses,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--direct", required=True)
    parser.add_argument("--proxy", required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    direct = run(args.direct, args.cafile, args.seconds, args.concurrency)
    proxied = run(args.proxy, args.cafile, args.seconds, args.concurrency)
    print(json.dumps({
        "direct": direct,
        "proxy": proxied,
        "rps_ratio_proxy_to_direct": round(proxied["rps"] / direct["rps"], 3) if direct["rps"] else None,
        "p95_ratio_proxy_to_direct": round(proxied["p95_ms"] / direct["p95_ms"], 3) if direct["p95_ms"] else None,
    }))


if __name__ == "__main__":
    main()
