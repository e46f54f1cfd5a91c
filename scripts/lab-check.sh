#!/usr/bin/env bash
# The lab's own acceptance, run by `make test`: `make lab` from nothing, `site.yml --check --diff`
# with changed=0, the app's acceptance under load, `make lab` again with changed=0,
# endpoints.json and its credential files as promised, the monitoring end to end
# (tests/lab/monitoring_e2e.py), the DR drill once (`make lab-dr`), then
# `make lab-destroy` leaving no container, network or volume behind.
set -euo pipefail
SCRIPT_NAME=lab-check
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
out="$ROOT/.build/lab-check"; mkdir -p "$out"
# Every ansible-playbook below (and those tests/lab/acceptance/ runs) uses the lab's executor.
# shellcheck source=scripts/lab-executor.sh
. "$ROOT/scripts/lab-executor.sh"
log "executor: ${ANSIBLE_STRATEGY:-linear} (FLASH_LAB_EXECUTOR=${FLASH_LAB_EXECUTOR:-mitogen})"

lab_objects() {
  printf 'containers=%s networks=%s\n' \
    "$(docker ps -aq --filter label=io.flash.lab=flash-lab | wc -l)" \
    "$(docker network ls -q --filter label=io.flash.lab=flash-lab | wc -l)"
}
# Volumes the lab's containers use (anonymous or named), to be sure lab-destroy removes them.
lab_volumes() {
  local ids
  ids="$(docker ps -aq --filter label=io.flash.lab=flash-lab)"
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086  # one id per word
  docker inspect -f '{{range .Mounts}}{{if .Name}}{{.Name}}{{"\n"}}{{end}}{{end}}' $ids | sort -u | grep -v '^$' || true
}

make --no-print-directory lab-destroy >"$out/destroy-0.log" 2>&1 || { tail -n 30 "$out/destroy-0.log"; die "lab-destroy (initial) failed"; }
before="$(lab_objects)"
log "before: $before"

# The lab check's own audit trail: the gates beside it run ansible-playbook too (make test), and
# their records must not land between the offsets read here.
export FLASH_AUDIT_TRAIL_PATH="$out/audit-trail.jsonl"
audit_file="$FLASH_AUDIT_TRAIL_PATH"
audit_offset=$(stat -c %s "$audit_file" 2>/dev/null || echo 0)
make --no-print-directory lab >"$out/lab-1.log" 2>&1 || { tail -n 60 "$out/lab-1.log"; die "make lab failed (log: $out/lab-1.log)"; }
log "first make lab: $(grep -c 'changed=[1-9]' "$out/lab-1.log") hosts changed"
# The audit trail of that run names every change it printed, and holds no lab secret (issue 13).
python3 tests/lab/audit_check.py "$out/lab-1.log" "$audit_file" "$audit_offset" || die "the audit trail of make lab is wrong"

python3 - "$ROOT/.lab" <<'PY'
import json, os, stat, sys
state = sys.argv[1]
ep = json.load(open(os.path.join(state, "endpoints.json")))
hosts = ep["hosts"]
assert hosts and all(hosts.values()), "endpoints.json: every host needs an address"
for group, members in ep["groups"].items():
    assert set(members) <= set(hosts), "group %s names unknown hosts" % group
mode = stat.S_IMODE(os.stat(state).st_mode)
assert mode == 0o700, ".lab must be 0700, is %o" % mode
for f in ep.get("credentials", {}).values():
    m = stat.S_IMODE(os.stat(f).st_mode)
    assert m & 0o077 == 0, "%s must be 0600 or stricter, is %o" % (f, m)
text = open(os.path.join(state, "endpoints.json")).read()
for f in ep.get("credentials", {}).values():
    secret = open(f).read().strip()
    assert secret and secret not in text, "a secret from %s appears inline in endpoints.json" % f
print("endpoints.json: %d hosts, %d groups, %d credential files" % (len(hosts), len(ep["groups"]), len(ep.get("credentials", {}))))

proxy = ep.get("proxy")
if proxy:
    # The front door answers on the loopback with a certificate the lab's CA file verifies,
    # and every answer (even a 502 while no app runs) carries HSTS.
    import ssl, urllib.error, urllib.request
    ctx = ssl.create_default_context(cafile=proxy["ca_file"])
    try:
        resp = urllib.request.urlopen(proxy["https_url"], context=ctx, timeout=10)
        status, headers = resp.status, resp.headers
    except urllib.error.HTTPError as err:
        status, headers = err.code, err.headers
    assert "max-age=" in (headers.get("Strict-Transport-Security") or ""), "no HSTS from the lab proxy"
    print("proxy: %s answered %d over verified TLS with HSTS" % (proxy["https_url"], status))

redis = ep.get("redis")
if redis:
    # Ask every Sentinel, from inside its own host by name, with the Sentinel password from its
    # credential file: quorum for every master (and from this machine by address, below).
    import subprocess
    auth = open(ep["credentials"]["redis-sentinel-auth"]).read().strip()
    assert redis["master_names"], "endpoints.json names no Redis master"
    for sentinel in redis["sentinels"]:
        host, port = sentinel.rsplit(":", 1)
        for name in redis["master_names"]:
            out = subprocess.run(["docker", "exec", "-e", "REDISCLI_AUTH", host, "redis-cli", "-p", port,
                                  "SENTINEL", "CKQUORUM", name], env=dict(os.environ, REDISCLI_AUTH=auth),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=30).stdout
            assert out.startswith("OK"), "%s: SENTINEL CKQUORUM %s: %s" % (sentinel, name, out.strip())
    print("redis: %d Sentinels report quorum for %s" % (len(redis["sentinels"]), ", ".join(redis["master_names"])))

if redis:
    # Issue 15.7: a client on this machine works as is, with no docker exec: each Sentinel at its
    # lab address, the master it names (a host name) resolved through .lab/hosts, and the app's
    # credential (the rotation store's newest redis_app) writes on that master.
    import redis as redis_py
    import yaml
    names = dict(reversed(line.split()) for line in open(ep["hosts_file"]) if line.strip() and not line.startswith("#"))
    assert names == {name: addr for name, addr in hosts.items()}, "the hosts file does not list every lab host's address"
    store = yaml.safe_load(open(redis["app_password"]["store"]))
    app_password = max(store["secrets"][redis["app_password"]["secret"]]["versions"], key=lambda v: v["version"])["value"]
    app_user = None if redis["app_user"] == "default" else redis["app_user"]
    for sentinel in redis["sentinel_addresses"]:
        host, port = sentinel.rsplit(":", 1)
        answer = redis_py.Redis(host=host, port=int(port), password=auth, socket_timeout=5, decode_responses=True)
        for name in redis["master_names"]:
            master, master_port = answer.sentinel_get_master_addr_by_name(name)
            client = redis_py.Redis(host=names[master], port=int(master_port), username=app_user, password=app_password,
                                    socket_timeout=5)
            assert client.set("flash:lab-check:controller", sentinel, ex=60), "%s: no write on %s" % (sentinel, master)
    print("redis: from this machine, %d Sentinels by address; the app's credential writes on each master they name"
          % len(redis["sentinel_addresses"]))

rabbitmq = ep.get("rabbitmq")
if rabbitmq:
    import urllib.request
    page = urllib.request.urlopen(rabbitmq["management_address_url"], timeout=10)
    assert page.status == 200 and b"RabbitMQ" in page.read(), "rabbitmq: the management UI does not answer at its address"
    print("rabbitmq: the management UI answers at %s from this machine" % rabbitmq["management_address_url"])
    # One cluster of every node, and the app user's credential file opens it (the password
    # goes through stdin, never a command line).
    import subprocess
    nodes = [u.split("@", 1)[1].split(":", 1)[0] for u in rabbitmq["amqp_urls"]]
    status = json.loads(subprocess.run(["docker", "exec", nodes[0], "rabbitmqctl", "cluster_status", "--formatter", "json"],
                                       stdout=subprocess.PIPE, universal_newlines=True, timeout=60, check=True).stdout)
    running = sorted(n.split("@", 1)[1] for n in status["running_nodes"])
    assert running == sorted(nodes), "rabbitmq: running nodes %s, expected %s" % (running, sorted(nodes))
    # The lab's rotation store is plain YAML (0600); its newest version is the current value.
    import yaml
    store = yaml.safe_load(open(rabbitmq["app_password"]["store"]))
    versions = store["secrets"][rabbitmq["app_password"]["secret"]]["versions"]
    current = max(versions, key=lambda v: v["version"])["value"]
    auth = subprocess.run(["docker", "exec", "-i", nodes[0], "rabbitmqctl", "authenticate_user", rabbitmq["app_user"]],
                          input=current + "\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert auth.returncode == 0 and "Success" in auth.stdout, "rabbitmq: the app credential file does not authenticate"
    print("rabbitmq: %d nodes running in one cluster; the app credential authenticates" % len(running))
PY

# The operator's preview (issue 15): `site.yml --check --diff` on the converged lab fails
# nothing and predicts no change on any host. It runs once, in tests/lab/check_playbooks.py
# below, on the lab the deploys, the rotation and the failovers moved (the stricter case; a
# first check on the fresh lab cost 2 min and found nothing that one does not). The preview
# that follows also holds every host outside the Redis and proxy groups to no change.
# The operator's preview of a change (issue 15): two variables changed in the lab's vars,
# `site.yml --check --diff` shows both and changes nothing, the real run changes exactly what it
# showed, and the lab's own vars bring it back (tests/lab/preview_check.py).
python3 tests/lab/preview_check.py | tee "$out/preview.jsonl" || die "the preview of a variable change is wrong (logs: $out/preview-*.log)"
# Each role's concern tags alone (issue 15.3), on the lab the preview left converged: the
# preflight and the discovery run for every tag, and each `--tags <concern>` run of a role's
# playbook fails nothing and changes nothing (tests/lab/tags_alone.py; about 9 min).
python3 tests/lab/tags_alone.py | tee "$out/tags-alone.jsonl" || die "a concern tag does not run alone (logs: $out/tags-*.log)"

# The app's acceptance in the running lab (issue 6): deploys under load, a broken release, a
# failing proxy gate, a rollback, a Redis master and a RabbitMQ node lost.
python3 -m pytest tests/lab/acceptance -m 'not after_converge and not after_destroy' --require-records -x --tb=short --durations=0 -v \
  --figures "$out/acceptance.jsonl" | tee "$out/acceptance.log" || die "lab acceptance failed (figures above; logs: $out)"

# Monitoring end to end (issue 11): every target up and exactly the inventory's, the exporters
# reading their targets, the Watchdog at the dead-man's switch, every dashboard query on the lab's
# Prometheus; then the Redis session master, a RabbitMQ node and a queue past 100 and 500 messages
# lost at once: each alert at the receivers its route names, a warning inhibited while its critical
# fires; everything put back. Their resolution is checked later (below), while converges run.
python3 tests/lab/monitoring_e2e.py fire | tee "$out/monitoring-e2e.log" || die "monitoring end to end failed (log: $out/monitoring-e2e.log)"

# After the failover and the node loss, the release back on the inventory's pin: a converge
# still changes nothing on any host of the stack (and so does not move the Redis master
# back). On the controller, only .lab/endpoints.json may be rewritten: it describes the live
# colour and the release record, which the deploys and the rotation moved.
make --no-print-directory lab >"$out/lab-3.log" 2>&1 || { tail -n 60 "$out/lab-3.log"; die "third make lab failed"; }
if grep -E '^[A-Za-z0-9_.-]+ +: ok=.*changed=[1-9]' "$out/lab-3.log" | grep -v '^localhost '; then
  grep -B5 '^changed:' "$out/lab-3.log" | head -n 40 >&2 || true
  die "make lab after the failovers changed a host (see above; log: $out/lab-3.log)"
fi
controller_changes="$(awk '/^TASK \[/ {task = $0} /^changed: \[localhost\]/ {print task}' "$out/lab-3.log" \
  | grep -v 'Write the endpoints file' || true)"
[ -z "$controller_changes" ] || die "make lab after the failovers changed the controller beyond endpoints.json: $controller_changes"
log "make lab after the failovers: changed=0 on every host (endpoints.json rewritten: $(grep -c '^changed: \[localhost\]' "$out/lab-3.log" || true))"
# No redeploy since the Redis failover (issue 16.9): the app containers' ids and start times the
# redis step recorded are the same after the failovers, the rotation's later run and this converge.
python3 -m pytest tests/lab/acceptance -m after_converge --require-records -x --tb=short --durations=0 -v \
  --figures "$out/acceptance.jsonl" --append-figures | tee -a "$out/acceptance.log" || die "the app was redeployed after the Redis failover"
# Every other playbook an operator runs on the lab previews too (issue 15.2), here where the
# release record has a previous release: no change predicted on the converged lab, and
# rollback.yml predicting what its plan shows (here in-place: the previous release is the live
# one) and changing nothing.
python3 tests/lab/check_playbooks.py | tee "$out/check-playbooks.jsonl" || die "a playbook's --check --diff is wrong (logs: $out/check-*.log)"

# The alerts of the monitoring step resolved at their receivers (the Redis failures' 5-minute
# window emptied while the converge and the previews above ran).
python3 tests/lab/monitoring_e2e.py resolved | tee -a "$out/monitoring-e2e.log" || die "the monitoring step's alerts did not resolve (log: $out/monitoring-e2e.log)"

# The disaster-recovery drill (issue 12), once, last (it rebuilds the Redis hosts): a canary
# writes through the app, the frequent timer ships a copy of it, every Redis container is removed
# with its data, made again, converged, and its session master restored from the newest copy;
# it fails if RPO > 5 min or RTO > 30 min (playbooks/dr_drill.yml; figures in .lab/dr-drill.json).
make --no-print-directory lab-dr >"$out/dr.log" 2>&1 || { tail -n 60 "$out/dr.log"; die "the DR drill failed (log: $out/dr.log)"; }
cp "$ROOT/.lab/dr-drill.json" "$out/dr-drill.json"
log "DR drill: $(tr -d '\n' <"$out/dr-drill.json")"

volumes="$(lab_volumes)"
make --no-print-directory lab-destroy >"$out/destroy.log" 2>&1 || { tail -n 30 "$out/destroy.log"; die "lab-destroy failed"; }
after="$(lab_objects)"
# The same-tag step's rebuilt image (its tag was moved back), now that no container uses it.
python3 -m pytest tests/lab/acceptance -m after_destroy -x --tb=short --durations=0 -q || true
log "after lab-destroy: $after ($(echo "$volumes" | grep -c . || true) lab volumes before it)"
[ "$before" = "$after" ] || die "lab-destroy left objects behind: before [$before], after [$after]"
for v in $volumes; do
  if docker volume inspect "$v" >/dev/null 2>&1; then die "lab-destroy left volume $v behind"; fi
done
[ ! -e "$ROOT/.lab" ] || die "lab-destroy left $ROOT/.lab behind"
log "ok"
