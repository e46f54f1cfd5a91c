# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab's acceptance tests share: the client through the proxy, the runs they start, and
readers of the lab's state (the release, the rotation store, Redis, Sentinel, RabbitMQ, Docker).

Every address comes from .lab/endpoints.json (playbooks/lab_endpoints.yml): the proxy's URL and CA
file, the Sentinels, the AMQP nodes, the hosts and groups. The pure parts (figure builders and
parsers, no lab needed) are unit-tested in tests/unit/scripts/test_acceptance_helpers.py.
No pytest here: tests/bench/deploy_bench.py imports this module (as `acceptance`) for its client.
"""
import calendar
import hashlib
import http.client
import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
STATE = os.path.join(ROOT, '.lab')
LOGS = os.path.join(ROOT, '.build', 'lab-check')
ENDPOINTS = os.path.join(STATE, 'endpoints.json')
# The redis step's record of the app containers, read by the no-redeploy test after the converge.
FAILOVER_RECORD = os.path.join(LOGS, 'app-containers-before-failover.json')

APP_IMAGE = 'flash-connect/reference-app'
REBUILD_LABEL = 'io.flash.lab.rebuild'
# Not in endpoints.json (see the report of issue 15, 6b): the release record's path on the proxy
# host (the deploy playbook's deploy_release_file default), the Redis instances' systemd units and
# the app's durable queue (the rabbitmq role's default, read from endpoints.json when it has one).
RELEASE_FILE = '/var/lib/flash-connect/release.json'
REDIS_UNITS = ('redis-server@session', 'redis-server@cache')
APP_QUEUE = 'flash_whatsapp_events'


def endpoints():
    with open(ENDPOINTS) as handle:
        return json.load(handle)


def proxy_address(url):
    """(host, port) of the proxy's https URL from endpoints.json."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port or (443 if parts.scheme == 'https' else 80)


class Client(threading.Thread):
    """Requests through the proxy at a steady rate until stopped, each on a new TLS connection.

    A new connection per request keeps the figures about the server: on a reused keep-alive
    connection, a request can cross the server's close of that idle connection (nginx closes
    idle connections when a reload retires its old workers), which HTTP clients answer by
    resending idempotent requests (RFC 9110, 9.2.2); this client does not resend anything.
    Every answer is recorded as (seconds since start, status or error, version, path, colour):
    the colour from the proxy's X-Flash-Colour header (which upstream group served it), the
    version from the reference app's test-only X-Reference-App-Version header (the real app's
    /health says only {"status": "ok"}). The proxy's URL and CA file come from endpoints.json."""

    def __init__(self, paths, rate=8.0, ca_file=None, timeout=10, url=None):
        super(Client, self).__init__(daemon=True)
        proxy = endpoints()['proxy'] if url is None or ca_file is None else {}
        self.host, self.port = proxy_address(url or proxy['https_url'])
        self.paths = paths
        self.period = 1.0 / rate
        self.ctx = ssl.create_default_context(cafile=ca_file or proxy['ca_file'])
        self.timeout = timeout
        self.samples = []
        self.stopping = threading.Event()
        self.start_time = None

    def _connect(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=self.timeout)

    def run(self):
        conn = self._connect()
        self.start_time = time.monotonic()
        n = 0
        while not self.stopping.is_set():
            path = self.paths[n % len(self.paths)]
            n += 1
            sent = time.monotonic()
            method, body = ('POST', json.dumps({'user': 'acc%d' % (n % 50), 'command': 'help'})) \
                if path == '/api/commands' else ('GET', None)
            if path.endswith('user='):
                path = path + 'acc%d' % (n % 50)
            try:
                conn.request(method, path, body=body, headers={'Content-Type': 'application/json'})
                resp = conn.getresponse()
                data = resp.read()
                del data
                self.samples.append((sent - self.start_time, resp.status, resp.getheader('X-Reference-App-Version'),
                                     path.split('?')[0], resp.getheader('X-Flash-Colour')))
            except Exception as exc:  # pylint: disable=broad-except
                self.samples.append((sent - self.start_time, type(exc).__name__, None, path.split('?')[0], None))
            conn.close()
            conn = self._connect()
            pause = self.period - (time.monotonic() - sent)
            if pause > 0:
                self.stopping.wait(pause)
        conn.close()

    def stop(self):
        self.stopping.set()
        self.join(30)

    def failed(self, path=None):
        return failed(self.samples, path)

    def versions(self):
        """The versions the answers showed, in order, without repeats."""
        return sequence(self.samples, 2)

    def colours(self):
        """The colours the proxy said served the answers (X-Flash-Colour), in order, without repeats."""
        return sequence(self.samples, 4)


def failed(samples, path=None):
    return [s for s in samples if (path is None or s[3] == path) and s[1] != 200]


def sequence(samples, index):
    """The values of one field of the samples, in order, without repeats (None skipped)."""
    seq = []
    for sample in samples:
        if sample[index] and (not seq or seq[-1] != sample[index]):
            seq.append(sample[index])
    return seq


# How long after the first answer of a new colour an answer of the colour before it still counts
# as nginx's reload window rather than a switch back. A reload is not a clean cut: the master
# starts the new workers, sleeps 100 ms ("allow new processes to start"), and only then sends the
# old ones SIGQUIT, after which they close their listening sockets (ngx_master_process_cycle in
# src/os/unix/ngx_process_cycle.c). Until then old and new workers both accept connections, so a
# client on fresh connections can see new, old, new. A real switch back (a second write and
# reload by the playbook) takes seconds of tasks, well outside this.
RELOAD_WINDOW_S = 1.5


def settled_sequence(samples, index, window=RELOAD_WINDOW_S):
    """(sequence, echoes): the values of one field in order without repeats, like sequence(), except
    that a return to the value before, within `window` seconds of the first answer of the new value
    and followed by the new value again, is an echo of nginx's reload (an old worker still accepting
    connections), not a change. echoes lists how many seconds after that first answer each came.
    A return that stays (a real switch back) is a change however soon it comes."""
    runs = []  # (value, seconds of its first answer), one per change
    for sample in samples:
        if sample[index] and (not runs or runs[-1][0] != sample[index]):
            runs.append((sample[index], sample[0]))
    settled, echoes = [], []
    for position, (value, started) in enumerate(runs):
        if settled and settled[-1][0] == value:
            continue  # the new value again, after an echo
        if (len(settled) >= 2 and settled[-2][0] == value and started - settled[-1][1] <= window
                and position + 1 < len(runs) and runs[position + 1][0] == settled[-1][0]):
            echoes.append(round(started - settled[-1][1], 3))
            continue
        settled.append((value, started))
    return [value for value, dummy in settled], echoes


def summary(client):
    """The figures every step under load reports about its client."""
    return samples_summary(client.samples)


def samples_summary(samples):
    """versions_seen and colours_seen are the settled sequences (settled_sequence); reload_echoes the
    answers of the colour before that came within nginx's reload window, in seconds after the first
    answer of the new colour, and versions_raw the sequence with them."""
    fails = failed(samples)
    versions, dummy = settled_sequence(samples, 2)
    colours, echoes = settled_sequence(samples, 4)
    return {'requests': len(samples), 'failed': len(fails), 'first_failures': fails[:5],
            'versions_seen': versions, 'colours_seen': colours, 'reload_echoes': echoes,
            'versions_raw': sequence(samples, 2)}


def recovery_figures(samples, stopped_at):
    """The figures of a failover from the client's samples: the failures after the stop and the
    recovery (from the last failed answer on, every answer is 200)."""
    after = [s for s in samples if s[0] >= stopped_at]
    bad = [s for s in after if s[1] != 200]
    last_bad = max([s[0] for s in bad] or [stopped_at])
    recovery = round(last_bad - stopped_at, 2)
    return {'requests_after_stop': len(after), 'failed_after_stop': len(bad), 'recovered_within_s': recovery,
            'failures_by_kind': dict((str(k), len([s for s in bad if s[1] == k])) for k in set(s[1] for s in bad)),
            'last_failure_s': [round(s[0] - stopped_at, 2) for s in bad][-3:],
            'first_failure_s': [round(s[0] - stopped_at, 2) for s in bad][:3],
            'requests_after_recovery': len([s for s in after if s[0] >= stopped_at + recovery])}


def run(cmd, log_name):
    """Run a command from the repository root, keep its output in .build/lab-check/, return
    (rc, output, seconds)."""
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    os.makedirs(LOGS, exist_ok=True)
    with open(os.path.join(LOGS, log_name), 'w') as handle:
        handle.write(proc.stdout)
    return proc.returncode, proc.stdout, round(time.monotonic() - started, 1)


def with_client(paths, action, settle=2.0, rate=8.0):
    client = Client(paths, rate=rate)
    client.start()
    time.sleep(settle)
    try:
        result = action()
        time.sleep(settle)
    finally:
        client.stop()
    return client, result


def changed_hosts(output):
    """The hosts a run's PLAY RECAP shows with changed>0."""
    return sorted(set(re.findall(r'^(\S+) +: ok=\d+ +changed=[1-9]', output, re.M)))


def rescued(output):
    """Whether a run's PLAY RECAP shows a rescue (an Undo) on some host."""
    return re.search(r'^(\S+) +: .*rescued=[1-9]', output, re.M) is not None


def leaked(values, texts):
    return sorted(set(name for name, value in values.items() if value and any(value in text for text in texts)))


# The release: what runs, what the proxy serves, what the record on the proxy says.

def serving_colour(ep):
    """The colour that serves, as the proxy says in X-Flash-Colour on /health."""
    ctx = ssl.create_default_context(cafile=ep['proxy']['ca_file'])
    resp = urllib.request.urlopen(ep['proxy']['https_url'].rstrip('/') + '/health', context=ctx, timeout=10)
    return resp.getheader('X-Flash-Colour')


def running_versions():
    out = subprocess.run(['docker', 'ps', '--filter', 'label=io.flash.lab=flash-lab', '--filter', 'label=io.flash.app',
                          '--format', '{{.Label "io.flash.app.colour"}}={{.Label "io.flash.app.version"}}'],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return sorted(set(line for line in out.split() if line))


def release_record(ep):
    """The release record on the proxy host ({} before the first deploy)."""
    proc = subprocess.run(['docker', 'exec', ep['groups']['proxy'][0], 'cat', RELEASE_FILE], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, universal_newlines=True, check=False, timeout=30)
    return json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}


def release_state(running, record):
    """(live tag or None, previous tag or None) from running_versions() and the release record: a
    release is live when one colour runs it alone and the record names it on that colour."""
    colours = set(v.split('=', 1)[0] for v in running)
    tags = set(v.split('=', 1)[1] for v in running)
    live = None
    if len(colours) == 1 and len(tags) == 1 and record.get('tag') in tags and record.get('colour') in colours:
        live = record['tag']
    return live, (record.get('previous') or {}).get('tag')


def step_deploy(tag, log_name=None):
    """make lab-deploy TAG=tag under load: it passes, 0 failed requests, tag served after, the old
    colour stopped. Returns (figures, the run's output)."""
    log_name = log_name or 'deploy-%s.log' % tag
    client, (rc, out, secs) = with_client(['/health', '/api/balance?user=', '/api/commands'],
                                          lambda: run(['make', '--no-print-directory', 'lab-deploy', 'TAG=' + tag], log_name))
    figures = dict(summary(client), rollout_seconds=secs, running=running_versions())
    return figures, rc, out


def deploy_checks(figures, rc, tag, log_name=None):
    """What every deploy under load must show; [] when it did, else the failures' messages."""
    log_name = log_name or 'deploy-%s.log' % tag
    problems = []
    if rc != 0:
        problems.append('make lab-deploy TAG=%s failed (.build/lab-check/%s)' % (tag, log_name))
    if figures['failed'] != 0:
        problems.append('requests failed during the deploy')
    if figures['versions_seen'][-1:] != [tag]:
        problems.append('the proxy does not serve %s after the deploy' % tag)
    if not all(v.endswith('=' + tag) for v in figures['running']):
        problems.append('the old colour still runs')
    return problems


# The same tag rebuilt (issue 14).

def image_id(tag, image=APP_IMAGE):
    return subprocess.run(['docker', 'image', 'inspect', '-f', '{{.Id}}', '%s:%s' % (image, tag)],
                          stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()


def rebuild_tag(tag, image=APP_IMAGE):
    """Rebuild image:tag in place, as a CI pipeline re-pushing a tag does: the same content, a new
    image id under the same tag (a label with a nonce makes the id new). Returns (old id, new id).
    The old image keeps its cache tag (scripts/build-app-image.sh), so `docker tag` puts it back."""
    before = image_id(tag, image)
    subprocess.run(['docker', 'build', '-q', '--label', '%s=%s' % (REBUILD_LABEL, time.time()), '-t', '%s:%s' % (image, tag), '-'],
                   input='FROM %s:%s\n' % (image, tag), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   universal_newlines=True, check=True)
    after = image_id(tag, image)
    if after == before:
        raise RuntimeError('rebuilding %s:%s gave the same image id %s' % (image, tag, after))
    return before, after


def prune_rebuilt():
    """Remove the images rebuild_tag made that no container uses any more."""
    subprocess.run(['docker', 'image', 'prune', '-f', '--filter', 'label=' + REBUILD_LABEL],
                   stdout=subprocess.DEVNULL, check=False)


def app_images():
    """Colour -> the set of image ids the lab's running app containers were made from. Only the lab's
    (label io.flash.lab, as running_versions): a Molecule scenario's app on the same engine, run beside
    the lab check by make test, is not the lab's."""
    ids = subprocess.run(['docker', 'ps', '-q', '--filter', 'label=io.flash.lab=flash-lab', '--filter', 'label=io.flash.app.host'],
                         stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout.split()
    if not ids:
        return {}
    out = subprocess.run(['docker', 'inspect', '-f', '{{index .Config.Labels "io.flash.app.colour"}} {{.Image}}'] + ids,
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    images = {}
    for line in out.splitlines():
        colour, image = line.split(' ', 1)
        images.setdefault(colour, set()).add(image)
    return images


def app_containers(ep=None):
    """Id -> start time of every running app container of the lab's app hosts."""
    ids = subprocess.run(['docker', 'ps', '-q', '--filter', 'label=io.flash.app.host'], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout.split()
    if not ids:
        return {}
    out = subprocess.run(['docker', 'inspect', '-f', '{{.Id}} {{.State.StartedAt}} {{index .Config.Labels "io.flash.app.host"}}']
                         + ids, stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    # Only the lab's app hosts' containers: a Molecule scenario's app on the same engine is not the lab's.
    hosts = set((ep or endpoints())['groups'].get('app', []))
    rows = [line.split(' ') for line in out.splitlines() if line]
    return dict((row[0], row[1]) for row in rows if len(row) == 3 and row[2] in hosts)


def lab_identity(ep):
    """The container ids of the lab's hosts: a record made on another lab (destroyed since) is not this one's."""
    out = subprocess.run(['docker', 'inspect', '-f', '{{.Name}} {{.Id}}'] + sorted(ep['hosts']), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout
    return dict(line.lstrip('/').split(' ', 1) for line in out.splitlines() if ' ' in line)


def record_failover(ep, containers):
    os.makedirs(LOGS, exist_ok=True)
    with open(FAILOVER_RECORD, 'w') as handle:
        json.dump({'lab': lab_identity(ep), 'app_containers': containers, 'recorded_at': time.time()}, handle)


def read_failover_record(ep):
    """(app containers recorded before the Redis failover, or None, why not) for this lab."""
    if not os.path.exists(FAILOVER_RECORD):
        return None, 'no record at %s' % os.path.relpath(FAILOVER_RECORD, ROOT)
    with open(FAILOVER_RECORD) as handle:
        record = json.load(handle)
    return record_for(record, lab_identity(ep))


def record_for(record, identity):
    """The app containers of a failover record when it was made on the lab of this identity."""
    if 'app_containers' not in record:  # the format before the record named its lab
        return None, 'the record names no lab'
    if record.get('lab') != identity:
        return None, 'the record was made on another lab (destroyed since)'
    return record['app_containers'], None


# The rotation store (the lab's is plain YAML, 0600).

def store_data(path):
    import yaml  # the toolchain's PyYAML (make puts .venv/bin first on PATH)
    with open(path) as handle:
        return yaml.safe_load(handle)


def newest_versions(data):
    """Name -> (version, value) of the newest version of each secret of a store's data."""
    out = {}
    for name, entry in data['secrets'].items():
        newest = max(entry['versions'], key=lambda v: v['version'])
        out[name] = (newest['version'], newest['value'])
    return out


def store_current(path):
    """Name -> (version, value) of the newest version of each secret in the lab's plain store."""
    return newest_versions(store_data(path))


def entry_window(entry):
    """(current value, previous value or None, end of the recorded overlap window as epoch seconds)."""
    versions = sorted(entry['versions'], key=lambda v: v['version'], reverse=True)
    created = calendar.timegm(time.strptime(versions[0]['created'], '%Y-%m-%dT%H:%M:%SZ'))
    return (versions[0]['value'], versions[1]['value'] if len(versions) > 1 else None,
            created + int(entry.get('overlap') or 0))


def store_entry(path, name):
    return entry_window(store_data(path)['secrets'][name])


def store_bytes(path):
    with open(path, 'rb') as handle:
        return handle.read()


def store_digest(path):
    return hashlib.sha256(store_bytes(path)).hexdigest()


def lab_policies(**overrides):
    """The lab inventory's rotation_policies, with some secrets' policies changed."""
    import yaml
    with open(os.path.join(ROOT, 'inventories', 'lab', 'group_vars', 'all', 'rotation.yml')) as handle:
        policies = yaml.safe_load(handle)['rotation_policies']
    for name, changes in overrides.items():
        policies[name] = dict(policies[name], **changes)
    return policies


# Redis and Sentinel, asked inside the lab's hosts (docker exec) by the names endpoints.json gives.

def sentinel_auth(ep):
    with open(ep['credentials']['redis-sentinel-auth']) as handle:
        return handle.read().strip()


def sentinel_cli(ep, sentinel, *args):
    host, port = sentinel.rsplit(':', 1)
    return subprocess.run(['docker', 'exec', '-e', 'REDISCLI_AUTH', host, 'redis-cli', '-p', port] + list(args),
                          env=dict(os.environ, REDISCLI_AUTH=sentinel_auth(ep)), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, universal_newlines=True, check=False, timeout=15)


def sentinel_master_addr(ep, name):
    """(address, port) of a master as the first Sentinel that answers names it."""
    for sentinel in ep['redis']['sentinels']:
        proc = sentinel_cli(ep, sentinel, 'SENTINEL', 'get-master-addr-by-name', name)
        lines = proc.stdout.split()
        if proc.returncode == 0 and len(lines) == 2:
            return lines[0], int(lines[1])
    raise RuntimeError('no Sentinel answered for %s' % name)


def sentinel_master(ep, name):
    return sentinel_master_addr(ep, name)[0]


def session_master_name(ep):
    """The master of the users' sessions (the chat commands need it), from endpoints.json."""
    names = ep['redis']['master_names']
    return next((n for n in names if 'session' in n), names[0])


_PORTS = {}


def redis_ports(ep):
    """The port of every Redis instance (one per master name, the same on every Redis host), as
    Sentinel names them: endpoints.json lists the Sentinels, not the instances."""
    key = tuple(ep['redis']['sentinels']) + tuple(ep['redis']['master_names'])
    if key not in _PORTS:
        _PORTS[key] = [sentinel_master_addr(ep, name)[1] for name in ep['redis']['master_names']]
    return _PORTS[key]


def container_of(ep, address):
    for name, addr in ep['hosts'].items():
        if address in (name, addr):
            return name
    raise RuntimeError('no lab host has address %s' % address)


def redis_auth_ok(host, port, user, password):
    proc = subprocess.run(['docker', 'exec', '-e', 'REDISCLI_AUTH', host, 'redis-cli', '-p', str(port), '--user', user,
                           '--no-auth-warning', 'PING'], env=dict(os.environ, REDISCLI_AUTH=password),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False, timeout=15)
    return proc.stdout.strip() == 'PONG'


def redis_user_check(ep, user, password, expect, hosts=None):
    """Every (or the given) Redis host's instances accept (expect=True) or refuse one user's password."""
    results = {}
    for host in hosts or ep['groups']['redis']:
        for port in redis_ports(ep):
            results['%s:%d' % (host, port)] = redis_auth_ok(host, port, user, password)
    return all(v == expect for v in results.values()) and bool(results), results


def redis_check(ep, password, expect, hosts=None):
    """Every (or the given) Redis host's instances accept (expect=True) or refuse the app password."""
    return redis_user_check(ep, ep['redis']['app_user'], password, expect, hosts)


def redis_admin(ep, host, port, *args):
    """A command on one instance as the lab's Redis admin (its password from the rotation store)."""
    password = store_current(ep['redis']['app_password']['store'])['redis_admin'][1]
    return subprocess.run(['docker', 'exec', '-e', 'REDISCLI_AUTH', host, 'redis-cli', '-p', str(port), '--user',
                           'flash-admin', '--no-auth-warning'] + list(args), env=dict(os.environ, REDISCLI_AUTH=password),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False,
                          timeout=15).stdout.strip()


def sentinel_views(ep):
    """Each Sentinel's view of each master: its flags, replicas and other Sentinels, and CKQUORUM."""
    views = {}
    for sentinel in ep['redis']['sentinels']:
        host = sentinel.rsplit(':', 1)[0]
        for name in ep['redis']['master_names']:
            fields = sentinel_cli(ep, sentinel, 'SENTINEL', 'MASTER', name).stdout.split('\n')
            master = dict(zip(fields[0::2], fields[1::2]))
            views['%s %s' % (host, name)] = {
                'flags': master.get('flags'), 'replicas': master.get('num-slaves'),
                'other_sentinels': master.get('num-other-sentinels'),
                'ckquorum': sentinel_cli(ep, sentinel, 'SENTINEL', 'CKQUORUM', name).stdout.strip().split(' ')[0]}
    return views_healthy(views, len(ep['groups']['redis']), len(ep['redis']['sentinels'])), views


def views_healthy(views, redis_hosts, sentinels):
    """Every Sentinel sees each master as a master, with every other host as its replica, every
    other Sentinel, and quorum."""
    return bool(views) and all(v['flags'] == 'master' and v['replicas'] == str(redis_hosts - 1)
                               and v['other_sentinels'] == str(sentinels - 1) and v['ckquorum'] == 'OK'
                               for v in views.values())


# RabbitMQ, asked inside its nodes (docker exec).

def rabbitmq_nodes(ep):
    """The lab's RabbitMQ nodes, by the host names of the AMQP URLs in endpoints.json."""
    return [amqp_host(url) for url in ep['rabbitmq']['amqp_urls']]


def amqp_host(url):
    return url.split('@', 1)[1].split(':', 1)[0]


def rabbitmq_auth_ok(host, user, password):
    proc = subprocess.run(['docker', 'exec', '-i', host, 'rabbitmqctl', 'authenticate_user', user], input=password + '\n',
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False, timeout=60)
    return proc.returncode == 0 and 'Success' in proc.stdout


def rabbitmq_check(ep, password, expect, hosts=None):
    results = dict((host, rabbitmq_auth_ok(host, ep['rabbitmq']['app_user'], password))
                   for host in hosts or ep['groups']['rabbitmq'])
    return all(v == expect for v in results.values()) and bool(results), results


def rabbitmqctl_json(node, *args):
    out = subprocess.run(['docker', 'exec', node, 'rabbitmqctl'] + list(args) + ['--formatter', 'json'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=True).stdout
    return json.loads(out)


def running_nodes(ep):
    """The lab nodes one cluster reports running ([] when no node answers)."""
    for node in rabbitmq_nodes(ep):
        try:
            status = rabbitmqctl_json(node, 'cluster_status')
        except (subprocess.SubprocessError, ValueError):
            continue
        return sorted(n.split('@', 1)[1] for n in status.get('running_nodes', []))
    return []


def queue_depth(node, vhost, queue):
    for row in rabbitmqctl_json(node, 'list_queues', '-p', vhost, 'name', 'messages'):
        if row['name'] == queue:
            return row['messages']
    raise RuntimeError('queue %s not found on vhost %s' % (queue, vhost))


def node_addresses(nodes):
    """Address -> lab node, from Docker."""
    address = {}
    for node in nodes:
        ips = subprocess.run(['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', node],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
        address.update((ip, node) for ip in ips)
    return address


def connections_per_node(connections, address, user, vhost):
    """Lab node -> how many connections of user on vhost it holds (3.10 has no `node` column: a
    connection's name ends with the address of the node that accepted it)."""
    per_node = {}
    for conn in connections:
        if conn['user'] == user and conn['vhost'] == vhost:
            node = address.get(conn['name'].rsplit('-> ', 1)[-1].rsplit(':', 1)[0], 'unknown')
            per_node[node] = per_node.get(node, 0) + 1
    return per_node


def app_connections_per_node(ask, nodes, user, vhost):
    """Lab node -> how many AMQP connections of user on vhost it holds, from the cluster-wide
    connection list."""
    return connections_per_node(rabbitmqctl_json(ask, 'list_connections', 'user', 'vhost', 'name'),
                                node_addresses(nodes), user, vhost)


def rabbitmq_watermark(node, value=None):
    """Read (value None) or set a node's vm_memory_high_watermark at runtime."""
    if value is None:
        out = subprocess.run(['docker', 'exec', node, 'rabbitmqctl', 'eval', 'vm_memory_monitor:get_vm_memory_high_watermark().'],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True, timeout=60).stdout.strip()
        return out
    subprocess.run(['docker', 'exec', node, 'rabbitmqctl', 'set_vm_memory_high_watermark'] + value.split(),
                   stdout=subprocess.DEVNULL, check=True, timeout=60)
    return value


def watermark_setting(saved):
    """The set_vm_memory_high_watermark arguments that put back a watermark as the node reported it
    ({absolute, N} or a fraction)."""
    return 'absolute %s' % re.search(r'\d+', saved).group(0) if 'absolute' in saved else saved


class RefuseNewPassword(threading.Thread):
    """Sabotage for the Undo test: as soon as the run stored a new redis_app version, take that
    password off one instance whenever the rotation gives it (ACL SETUSER <user> <#hash), so the
    instance refuses the new password, as a node that lost the change would."""

    def __init__(self, ep, old_value, host, port):
        super(RefuseNewPassword, self).__init__(daemon=True)
        self.ep, self.old_value, self.host, self.port = ep, old_value, host, port
        self.store, self.user = ep['redis']['app_password']['store'], ep['redis']['app_user']
        self.stopping = threading.Event()
        self.new_value = None
        self.removed = 0

    def run(self):
        while not self.stopping.is_set():
            try:
                current = store_entry(self.store, 'redis_app')[0]
            except Exception:  # pylint: disable=broad-except  # the store is being rewritten
                current = None
            if current and current != self.old_value:
                self.new_value = current
            if self.new_value:
                digest = hashlib.sha256(self.new_value.encode()).hexdigest()
                if digest in redis_admin(self.ep, self.host, self.port, 'ACL', 'GETUSER', self.user):
                    if redis_admin(self.ep, self.host, self.port, 'ACL', 'SETUSER', self.user, '<' + self.new_value) == 'OK':
                        self.removed += 1
            self.stopping.wait(0.3)

    def stop(self):
        self.stopping.set()
        self.join(30)
