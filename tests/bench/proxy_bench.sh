#!/usr/bin/env bash
# Benchmark of the proxy: the same GET load straight at one backend instance and through
# nginx (TLS + ModSecurity/CRS + limits), in one run, from inside the scenario's client
# container (traffic never leaves this machine). Writes docs/benchmarks/proxy.md.
#
#   source .venv/bin/activate && molecule converge -s proxy   # scenario up (create+prepare+converge)
#   bash tests/bench/proxy_bench.sh [SECONDS] [CONCURRENCY]
#   molecule destroy -s proxy
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-20}"
concurrency="${2:-8}"
client=proxy-client
out=docs/benchmarks/proxy.md

docker exec proxy-1 cat /etc/flash-connect/proxy-tls/ca.crt | docker exec -i "$client" sh -c 'cat > /root/bench-ca.crt'
docker exec -i "$client" sh -c 'cat > /root/proxy_bench.py' < tests/bench/proxy_bench.py
result=$(docker exec "$client" python3 /root/proxy_bench.py \
  --direct "http://proxy-backend-1:8081/api/wallet/balance?currency=BTC" \
  --proxy "https://proxy-1/api/wallet/balance?currency=BTC" \
  --cafile /root/bench-ca.crt --seconds "$seconds" --concurrency "$concurrency")
echo "$result"

# The report and its verdict come from the figures; a missed target makes this script exit 1.
RESULT="$result" SECONDS_ARG="$seconds" CONC="$concurrency" python3 - "$out" <<'PY'
import json, os, sys, datetime
sys.path.insert(0, "tests/bench")
from verdict import Target, exit_code, verdict
r = json.loads(os.environ["RESULT"])
d, p = r["direct"], r["proxy"]
def row(name, x):
    return f"| {name} | {x['requests']} | {x['rps']} | {x['p50_ms']} | {x['p95_ms']} | {x['p99_ms']} | {x['errors']} ({x['error_pct']} %) |"
result = verdict([
    Target("requests per second through the proxy", p["rps"], ">=", 300, "req/s"),
    Target("p95 latency through the proxy", p["p95_ms"], "<", 500, "ms"),
    Target("errors through the proxy", p["error_pct"], "<", 1, "%"),
])
verdict_text = "\n".join(result["lines"])
text = f"""# Proxy benchmark

Made by `bash tests/bench/proxy_bench.sh {os.environ['SECONDS_ARG']} {os.environ['CONC']}` on
{datetime.date.today().isoformat()}, with the Molecule `proxy` scenario converged
(`molecule converge -s proxy`). Load runs inside `proxy-client`: {os.environ['CONC']} processes, each
one keep-alive connection sending GETs without pause for {os.environ['SECONDS_ARG']} s, first
straight at one backend instance (`http://proxy-backend-1:8081`, Python http.server echo),
then through nginx (`https://proxy-1`, TLS 1.3 + ModSecurity/CRS PL1 + limits) to the two
blue instances. Everything shares one {os.cpu_count()}-core machine with the client, the backend and other
jobs (load average {os.getloadavg()[0]:.1f} at the end), so the figures are a floor, not a capacity.

| Target | Requests | req/s | p50 ms | p95 ms | p99 ms | Errors |
|---|---|---|---|---|---|---|
{row('direct (backend)', d)}
{row('through the proxy', p)}

Ratio proxy / direct: throughput {r['rps_ratio_proxy_to_direct']}, p95 latency {r['p95_ratio_proxy_to_direct']}.

Targets (service success criteria): at least 300 req/s through the proxy with p95 under 500 ms
and under 1 % errors.

{verdict_text}

Statuses: direct {d['statuses']}, proxy {p['statuses']}.
"""
open(sys.argv[1], "w").write(text)
print("wrote", sys.argv[1])
print(verdict_text)
sys.exit(exit_code(result))
PY
