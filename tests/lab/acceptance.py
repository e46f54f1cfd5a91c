# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Acceptance of the app in the running lab (issue 6), with a client sending requests through
the proxy the whole time (https://localhost:8443, published on this machine's loopback only).

    python3 tests/lab/acceptance.py [--only deploy,broken,bad-credential,proxy-gate,rollback,same-tag,undo-redis,
                                            undo-rabbitmq,rotate,redis,rabbitmq,rotate-later,no-redeploy,prune]

Each step prints one JSON line with its figures and exits non-zero on the first failure:
  deploy      make lab-deploy TAG=1.1.0 under load: 0 failed requests, v1.1.0 served after.
  broken      make lab-deploy TAG=1.2.0-broken: the play fails naming the direct gate, 0 failed
              requests, only 1.1.0 served throughout, no 1.2.0-broken container left running.
  bad-credential  (issue 14) 1.1.0 again with a wrong app Redis password: the direct gate's
              Redis check fails it naming the check, with the app's log lines, 0 failed
              requests, one colour seen, the refused colour not left running.
  proxy-gate  a good release whose gate through the proxy fails (latency ceiling 0.001 ms): the
              proxy switches back, 0 failed requests, the new colour's containers are stopped.
  rollback    make lab-rollback: back to the previous release (1.0.0), 0 failed requests.
  same-tag    (issue 14) reference-app:1.0.0 rebuilt (a new image id under the same tag) and
              deployed with TAG=1.0.0 under load: the plan goes blue/green (switch), 0 failed
              requests, the client sees the colour change once, and the app hosts run the new
              image id on the new colour only; then the tag moved back to its first image, the
              same again.
  undo-redis  (issue 16.9) redis_app rotated while one instance takes the new password off as
              soon as it gets it: the Redis gate fails, the Undo puts the store back (same bytes
              and versions), the passwords valid before open every instance, the discarded one
              none, 0 failed requests.
  undo-rabbitmq  the same for rabbitmq_app with a node in memory alarm (the RabbitMQ gate fails);
              chat commands answer 200 once the alarm is over.
  rotate      (issue 7) rotate every secret (forced) under load with -vvv, redis_app with a
              600 s overlap: 0 failed requests, one new version each, no value in the output or
              the lab's logs; inside the window the old and the new Redis passwords both open
              every instance; RabbitMQ (one password per user) refuses the old one at once.
  redis       stop the container of the session master under load: chat commands (each reads
              or writes the user's session in Redis through the app host's HAProxy) answer 200
              again within 15 s, the balance cache works on the new master, the app containers
              (ids, start times) unchanged; recorded for no-redeploy.
  rabbitmq    stop the RabbitMQ node holding most of the app's AMQP connections (from the
              broker's connection list) under load: commands answer 200 throughout (the real
              app publishes without confirms and never waits for the broker), the app's
              connections are back on the surviving nodes within 45 s, and from then on the
              durable queue grows by at least the commands answered 200; the events accepted
              while the app had no channel are reported (the real app's loss window).
  rotate-later  (issue 16.9) once redis_app's window is over (the old password still opens every
              instance until a run takes it off): a run under load removes it, changing only the
              Redis hosts and redeploying nothing, 0 failed requests; the new passwords survive a
              restart of each service; a run after that changes nothing (timed); bad input is
              refused naming the variable, the store unchanged.
  no-redeploy (issue 16.9, after the converge that follows the failover) the app containers
              recorded before the Redis failover are the same, ids and start times.
  prune       remove the rebuilt images of same-tag that no container uses any more.
"""
import argparse
import glob
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import http.client

import firewall_probe  # tests/lab/firewall_probe.py, beside this script
import log_search  # tests/lab/log_search.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATE = os.path.join(ROOT, '.lab')
LOGS = os.path.join(ROOT, '.build', 'lab-check')


def endpoints():
    with open(os.path.join(STATE, 'endpoints.json')) as handle:
        return json.load(handle)


class Client(threading.Thread):
    """Requests through the proxy at a steady rate until stopped, each on a new TLS connection.

    A new connection per request keeps the figures about the server: on a reused keep-alive
    connection, a request can cross the server's close of that idle connection (nginx closes
    idle connections when a reload retires its old workers), which HTTP clients answer by
    resending idempotent requests (RFC 9110, 9.2.2); this client does not resend anything.
    Every answer is recorded as (seconds since start, status or error, version, path, colour):
    the colour from the proxy's X-Flash-Colour header (which upstream group served it), the
    version from the reference app's test-only X-Reference-App-Version header (the real app's
    /health says only {"status": "ok"})."""

    def __init__(self, paths, rate=8.0, ca_file=None, timeout=10):
        super(Client, self).__init__(daemon=True)
        self.paths = paths
        self.period = 1.0 / rate
        self.ctx = ssl.create_default_context(cafile=ca_file or os.path.join(STATE, 'proxy-ca.crt'))
        self.timeout = timeout
        self.samples = []
        self.stopping = threading.Event()
        self.start_time = None

    def _connect(self):
        return http.client.HTTPSConnection('localhost', 8443, context=self.ctx, timeout=self.timeout)

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
        return [s for s in self.samples if (path is None or s[3] == path) and s[1] != 200]

    def versions(self):
        """The versions the answers showed, in order, without repeats."""
        return self._sequence(2)

    def colours(self):
        """The colours the proxy said served the answers (X-Flash-Colour), in order, without repeats."""
        return self._sequence(4)

    def _sequence(self, index):
        seq = []
        for sample in self.samples:
            if sample[index] and (not seq or seq[-1] != sample[index]):
                seq.append(sample[index])
        return seq


def run(cmd, log_name):
    """Run a make target, keep its output in .build/lab-check/, return (rc, output)."""
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    with open(os.path.join(LOGS, log_name), 'w') as handle:
        handle.write(proc.stdout)
    return proc.returncode, proc.stdout, round(time.monotonic() - started, 1)


def running_versions():
    out = subprocess.run(['docker', 'ps', '--filter', 'label=io.flash.lab=flash-lab', '--filter', 'label=io.flash.app',
                          '--format', '{{.Label "io.flash.app.colour"}}={{.Label "io.flash.app.version"}}'],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return sorted(set(line for line in out.split() if line))


def check(condition, step, message, figures):
    if not condition:
        print(json.dumps({'step': step, 'ok': False, 'error': message, 'figures': figures}))
        sys.exit(1)


def with_client(paths, action, settle=2.0, rate=8.0):
    client = Client(paths, rate=rate)
    client.start()
    time.sleep(settle)
    result = action()
    time.sleep(settle)
    client.stop()
    return client, result


def summary(client):
    fails = client.failed()
    return {'requests': len(client.samples), 'failed': len(fails), 'first_failures': fails[:5],
            'versions_seen': client.versions(), 'colours_seen': client.colours()}


def step_deploy(tag, step, log_name=None):
    """make lab-deploy TAG=tag under load: it passes, 0 failed requests, tag served after, the old
    colour stopped. Returns (figures, the run's output)."""
    log_name = log_name or 'deploy-%s.log' % tag
    client, (rc, out, secs) = with_client(['/health', '/api/balance?user=', '/api/commands'],
                                          lambda: run(['make', '--no-print-directory', 'lab-deploy', 'TAG=' + tag], log_name))
    figures = dict(summary(client), rollout_seconds=secs, running=running_versions())
    check(rc == 0, step, 'make lab-deploy TAG=%s failed (.build/lab-check/%s)' % (tag, log_name), figures)
    check(figures['failed'] == 0, step, 'requests failed during the deploy', figures)
    check(figures['versions_seen'][-1:] == [tag], step, 'the proxy does not serve %s after the deploy' % tag, figures)
    check(all(v.endswith('=' + tag) for v in figures['running']), step, 'the old colour still runs', figures)
    return figures, out


STEPS = 'firewall,deploy,broken,bad-credential,proxy-gate,rollback,same-tag,undo-redis,undo-rabbitmq,rotate,redis,rabbitmq,rotate-later'


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--only', default=STEPS,
                        help='steps to run, in this order; also no-redeploy (after the converge that follows the'
                             ' Redis failover) and prune (the rebuilt images, once no container uses them)')
    steps = parser.parse_args().only.split(',')
    os.makedirs(LOGS, exist_ok=True)
    ep = endpoints() if set(steps) - {'prune'} else None

    if 'firewall' in steps:
        started = time.monotonic()
        figures = firewall(ep)
        figures['step_seconds'] = round(time.monotonic() - started, 1)
        print(json.dumps({'step': 'firewall', 'ok': True, 'figures': figures}))

    if 'deploy' in steps:
        figures, dummy = step_deploy('1.1.0', 'deploy')
        check(figures['versions_seen'] == ['1.0.0', '1.1.0'], 'deploy', 'expected 1.0.0 then 1.1.0 only', figures)
        print(json.dumps({'step': 'deploy', 'ok': True, 'figures': figures}))

    if 'broken' in steps:
        client, (rc, out, secs) = with_client(['/health', '/api/balance?user='],
                                              lambda: run(['make', '--no-print-directory', 'lab-deploy', 'TAG=1.2.0-broken'],
                                                          'deploy-broken.log'))
        figures = dict(summary(client), seconds=secs, running=running_versions())
        check(rc != 0, 'broken', 'the broken release was accepted', figures)
        check('direct gate of the' in out and 'Traffic stayed on' in out, 'broken',
              'the failure does not name the gate (.build/lab-check/deploy-broken.log)', figures)
        check(figures['failed'] == 0, 'broken', 'requests failed while the broken release was tried', figures)
        check(figures['versions_seen'] == ['1.1.0'], 'broken', 'something else than 1.1.0 was served', figures)
        # Issue 16.3: what the client saw, not what the playbook printed - one colour throughout.
        check(len(figures['colours_seen']) == 1, 'broken', 'traffic left the live colour', figures)
        check(not any('1.2.0-broken' in v for v in figures['running']), 'broken', 'broken containers still run', figures)
        print(json.dumps({'step': 'broken', 'ok': True, 'figures': figures}))

    if 'bad-credential' in steps:
        # Issue 14: the release starts, but the app's Redis password is wrong: the direct gate's
        # own Redis check (the app's AUTH and a write) fails it, with the app's log lines, and
        # the client never leaves the live colour.
        client, (rc, out, secs) = with_client(
            ['/health', '/api/balance?user='],
            lambda: run(['ansible-playbook', '-i', 'inventories/lab', 'playbooks/deploy.yml', '-e', 'app_image_tag=1.1.0',
                         '-e', 'app_redis_password=wrong-redis-password-0d3f9a7c', '-e', 'app_wait_timeout=20'],
                        'deploy-bad-credential.log'))
        figures = dict(summary(client), seconds=secs, running=running_versions())
        check(rc != 0, 'bad-credential', 'a release with a wrong Redis password was accepted', figures)
        check('direct gate of the' in out and "redis: the app's AUTH and a write" in out and 'WRONGPASS' in out
              and 'Redis connection error' in out and 'Traffic stayed on' in out, 'bad-credential',
              'the failure does not name the Redis check with the app log lines (.build/lab-check/deploy-bad-credential.log)',
              figures)
        check(figures['failed'] == 0, 'bad-credential', 'requests failed while the release was tried', figures)
        check(len(figures['colours_seen']) == 1, 'bad-credential', 'traffic left the live colour', figures)
        check(len(set(v.split('=')[0] for v in figures['running'])) == 1, 'bad-credential',
              'the refused colour still runs', figures)
        print(json.dumps({'step': 'bad-credential', 'ok': True, 'figures': figures}))

    if 'proxy-gate' in steps:
        client, (rc, out, secs) = with_client(
            ['/health', '/api/balance?user='],
            lambda: run(['ansible-playbook', '-i', 'inventories/lab', 'playbooks/deploy.yml', '-e', 'app_image_tag=1.0.0',
                         '-e', 'deploy_gate_max_latency_ms=0.001', '-e', 'deploy_gate_timeout=6'], 'deploy-proxy-gate.log'))
        figures = dict(summary(client), seconds=secs, running=running_versions())
        check(rc != 0, 'proxy-gate', 'a failing proxy gate was accepted', figures)
        check('gate through the proxy' in out and 'Traffic is back on' in out, 'proxy-gate',
              'the failure does not name the proxy gate (.build/lab-check/deploy-proxy-gate.log)', figures)
        check(figures['failed'] == 0, 'proxy-gate', 'requests failed during the switch and switch-back', figures)
        check(figures['versions_seen'][-1:] == ['1.1.0'], 'proxy-gate', 'the proxy does not serve 1.1.0 again', figures)
        # Issue 16.3: the colours the client saw, in order: the live one, perhaps the new one
        # while the gate ran, then the live one again - never ending on the new colour.
        colours = figures['colours_seen']
        check(len(colours) in (1, 3) and colours[0] == colours[-1], 'proxy-gate',
              'the colours seen were not live -> new -> live: %s' % colours, figures)
        check(all(v.endswith('=1.1.0') for v in figures['running']), 'proxy-gate', 'the new colour still runs', figures)
        print(json.dumps({'step': 'proxy-gate', 'ok': True, 'figures': figures}))

    if 'rollback' in steps:
        client, (rc, out, secs) = with_client(['/health', '/api/commands'],
                                              lambda: run(['make', '--no-print-directory', 'lab-rollback'], 'rollback.log'))
        figures = dict(summary(client), seconds=secs, running=running_versions())
        check(rc == 0, 'rollback', 'make lab-rollback failed (.build/lab-check/rollback.log)', figures)
        check(figures['failed'] == 0, 'rollback', 'requests failed during the rollback', figures)
        check(figures['versions_seen'] == ['1.1.0', '1.0.0'], 'rollback', 'expected 1.1.0 then 1.0.0', figures)
        print(json.dumps({'step': 'rollback', 'ok': True, 'figures': figures}))

    if 'same-tag' in steps:
        figures = step_same_tag('1.0.0')
        print(json.dumps({'step': 'same-tag', 'ok': True, 'figures': figures}))

    for name, step in (('undo-redis', undo_redis), ('undo-rabbitmq', undo_rabbitmq), ('rotate', rotate),
                       ('redis', redis_failover), ('rabbitmq', rabbitmq_node_loss), ('rotate-later', rotate_later),
                       ('no-redeploy', no_redeploy)):
        if name in steps:
            started = time.monotonic()
            figures = step(ep)
            figures['step_seconds'] = round(time.monotonic() - started, 1)
            print(json.dumps({'step': name, 'ok': True, 'figures': figures}))
            sys.stdout.flush()

    if 'prune' in steps:
        prune_rebuilt()


def sentinel_master(ep, name):
    with open(ep['credentials']['redis-sentinel-auth']) as handle:
        auth = handle.read().strip()
    for sentinel in ep['redis']['sentinels']:
        host, port = sentinel.rsplit(':', 1)
        proc = subprocess.run(['docker', 'exec', '-e', 'REDISCLI_AUTH', host, 'redis-cli', '-p', port,
                               'SENTINEL', 'get-master-addr-by-name', name], env=dict(os.environ, REDISCLI_AUTH=auth),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True, check=False,
                              timeout=15)
        lines = proc.stdout.split()
        if proc.returncode == 0 and len(lines) == 2:
            return lines[0]
    raise RuntimeError('no Sentinel answered for %s' % name)


def container_of(ep, address):
    for name, addr in ep['hosts'].items():
        if address in (name, addr):
            return name
    raise RuntimeError('no lab host has address %s' % address)


def redis_failover(ep):
    master_addr = sentinel_master(ep, 'flash-session')
    master = container_of(ep, master_addr)
    app_before = app_containers()
    # For the no-redeploy step after the converge that follows (scripts/lab-check.sh).
    with open(os.path.join(LOGS, 'app-containers-before-failover.json'), 'w') as handle:
        json.dump(app_before, handle)
    # Chat commands: each needs the user's session in Redis (read, or written when new), like
    # the real app's; /health answers without Redis.
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
    after = [s for s in client.samples if s[0] >= stopped_at]
    # Recovery: the first answer from which every later one is 200.
    last_bad = max([s[0] for s in after if s[1] != 200] or [stopped_at])
    recovery = round(last_bad - stopped_at, 2)
    new_master = container_of(ep, sentinel_master(ep, 'flash-session'))
    figures = {'stopped': master, 'new_master': new_master, 'requests_after_stop': len(after),
               'failed_after_stop': len([s for s in after if s[1] != 200]), 'recovered_within_s': recovery,
               'failed_before_stop': len(before),
               'failures_by_kind': dict((str(k), len([s for s in after if s[1] == k]))
                                        for k in set(s[1] for s in after if s[1] != 200)),
               'last_failure_s': [round(s[0] - stopped_at, 2) for s in after if s[1] != 200][-3:],
               'first_failure_s': [round(s[0] - stopped_at, 2) for s in after if s[1] != 200][:3]}
    check(len(before) == 0, 'redis', 'requests failed before the master was stopped', figures)
    check(new_master != master, 'redis', 'Sentinel did not elect a new master', figures)
    check(recovery <= 15.0, 'redis', 'requests needing Redis did not recover within 15 s', figures)
    check(len([s for s in after if s[0] >= stopped_at + recovery]) >= 50, 'redis', 'too few requests after recovery', figures)
    # The cache works on the new master: the second balance of a fresh user comes from Redis.
    conn = http.client.HTTPSConnection('localhost', 8443, timeout=10,
                                       context=ssl.create_default_context(cafile=ep['proxy']['ca_file']))
    sources = []
    for _attempt in range(2):
        conn.request('GET', '/api/balance?user=failover%d' % int(time.time()))
        sources.append(json.loads(conn.getresponse().read()).get('source'))
    conn.close()
    figures['balance_sources'] = sources
    check(sources == ['wallet', 'cache'], 'redis', 'the balance cache does not work on the new master', figures)
    # No redeploy: the same app containers, started at the same moments, before and after.
    app_after = app_containers()
    figures['app_containers'] = len(app_after)
    check(app_before and app_after == app_before, 'redis', 'the app containers changed across the failover', figures)
    return figures


APP_IMAGE = 'flash-connect/reference-app'
REBUILD_LABEL = 'io.flash.lab.rebuild'


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


def app_images():
    """Colour -> the set of image ids its running app containers were made from."""
    ids = subprocess.run(['docker', 'ps', '-q', '--filter', 'label=io.flash.app.host'], stdout=subprocess.PIPE,
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


def same_tag_deploy(tag, wanted_id, log_name, step):
    """Deploy TAG whose image id changed under load: a switch to the idle colour, which alone then
    runs wanted_id; 0 failed requests."""
    before = app_images()
    figures, out = step_deploy(tag, step, log_name)
    after = app_images()
    figures.update(image=wanted_id, images_before={c: sorted(i) for c, i in before.items()},
                   images_after={c: sorted(i) for c, i in after.items()})
    where = '(.build/lab-check/%s)' % log_name
    check(re.search(r'-> (blue|green) \(switch', out) is not None, step,
          'the plan did not go blue/green for a tag whose image id changed %s' % where, figures)
    check(figures['versions_seen'] == [tag], step, 'something else than %s was served' % tag, figures)
    colours = figures['colours_seen']
    check(len(colours) == 2, step, 'the client did not see exactly one switch of colour', figures)
    check(len(before) == 1 and wanted_id not in set().union(*before.values()), step,
          'before the deploy, one colour should run an older image id', figures)
    check(list(after) == [colours[-1]] and after[colours[-1]] == {wanted_id}, step,
          'after the deploy, the new colour alone should run image %s' % wanted_id, figures)
    return figures


def step_same_tag(tag):
    """Issue 14: a rebuilt tag is a new release and goes blue/green, never in place; so does the
    tag moved back to the image it had (which also leaves the lab on the image `make lab` tags)."""
    old_id, new_id = rebuild_tag(tag)
    rebuilt = same_tag_deploy(tag, new_id, 'deploy-same-tag.log', 'same-tag')
    subprocess.run(['docker', 'tag', old_id, '%s:%s' % (APP_IMAGE, tag)], check=True)
    moved_back = same_tag_deploy(tag, old_id, 'deploy-same-tag-back.log', 'same-tag')
    prune_rebuilt()
    return {'rebuilt': rebuilt, 'moved_back': moved_back}


def prune_rebuilt():
    """Remove the images rebuild_tag made that no container uses any more (lab-check.sh calls this
    again after lab-destroy, when the last of them is free)."""
    subprocess.run(['docker', 'image', 'prune', '-f', '--filter', 'label=' + REBUILD_LABEL],
                   stdout=subprocess.DEVNULL, check=False)


def app_containers():
    """Id -> start time of every running app container of the lab's app hosts."""
    ids = subprocess.run(['docker', 'ps', '-q', '--filter', 'label=io.flash.app.host'], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout.split()
    if not ids:
        return {}
    out = subprocess.run(['docker', 'inspect', '-f', '{{.Id}} {{.State.StartedAt}} {{index .Config.Labels "io.flash.app.host"}}']
                         + ids, stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    # Only the lab's app hosts' containers: a Molecule scenario's app on the same engine is not the lab's.
    hosts = set(endpoints()['groups'].get('app', []))
    rows = [line.split(' ') for line in out.splitlines() if line]
    return dict((row[0], row[1]) for row in rows if len(row) == 3 and row[2] in hosts)


def rabbitmqctl_json(node, *args):
    out = subprocess.run(['docker', 'exec', node, 'rabbitmqctl'] + list(args) + ['--formatter', 'json'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=True).stdout
    return json.loads(out)


def queue_depth(node, vhost, queue):
    for row in rabbitmqctl_json(node, 'list_queues', '-p', vhost, 'name', 'messages'):
        if row['name'] == queue:
            return row['messages']
    raise RuntimeError('queue %s not found on vhost %s' % (queue, vhost))


def app_connections_per_node(ask, nodes, user, vhost):
    """Lab node -> how many AMQP connections of user on vhost it holds, from the cluster-wide
    connection list (3.10 has no `node` column: a connection's name ends with the address of the
    node that accepted it)."""
    address = {}
    for node in nodes:
        ips = subprocess.run(['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', node],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
        address.update((ip, node) for ip in ips)
    per_node = {}
    for conn in rabbitmqctl_json(ask, 'list_connections', 'user', 'vhost', 'name'):
        if conn['user'] == user and conn['vhost'] == vhost:
            node = address.get(conn['name'].rsplit('-> ', 1)[-1].rsplit(':', 1)[0], 'unknown')
            per_node[node] = per_node.get(node, 0) + 1
    return per_node


def rabbitmq_node_loss(ep):
    """Issue 16.4, with the real app's publishing: lnflash/flash-whatsapp-service publishes on a
    plain channel (createChannel, no publisher confirms) and answers without waiting for the
    broker, so a command answers 200 whether or not its event reached a queue. Stop the RabbitMQ
    node that holds most of the app's AMQP connections (asserted from the broker's own connection
    list) under a client sending chat commands: commands keep answering 200, the app's connections
    are back on the surviving nodes within RECONNECT_S, and every command answered 200 has its
    event in the app's durable queue, except those answered between the node's loss and the
    reconnect: the real app's loss window, reported as a figure (the app logs each one it drops)."""
    reconnect_s = 45
    rmq = ep['rabbitmq']
    nodes = [u.split('@', 1)[1].split(':', 1)[0] for u in rmq['amqp_urls']]
    vhost, user, queue = rmq.get('vhost', '/'), rmq['app_user'], rmq.get('app_queue', 'flash_whatsapp_events')
    per_node = app_connections_per_node(nodes[0], nodes, user, vhost)
    figures = {'app_connections_per_node': per_node}
    check(per_node, 'rabbitmq', 'the broker lists no AMQP connection of the app user %s' % user, figures)
    victim = max(sorted(per_node), key=per_node.get)
    check(victim in nodes, 'rabbitmq', 'an app connection ends on no lab node: %s' % per_node, figures)
    check(per_node.get(victim, 0) > 0, 'rabbitmq', 'the node to stop, %s, holds none of the app\'s connections' % victim,
          figures)
    survivor = [n for n in nodes if n != victim][0]
    depth_before = queue_depth(survivor, vhost, queue)
    client = Client(['/api/commands'], rate=8.0)
    client.start()
    time.sleep(3)
    stopped_at = time.monotonic() - client.start_time
    subprocess.run(['docker', 'stop', '-t', '0', victim], check=True, stdout=subprocess.DEVNULL)
    try:
        # Back on the survivors: as many app connections as before, none on the stopped node.
        deadline, moved = time.monotonic() + reconnect_s, {}
        while time.monotonic() < deadline:
            time.sleep(2)
            moved = app_connections_per_node(survivor, nodes, user, vhost)
            if victim not in moved and sum(moved.values()) >= sum(per_node.values()):
                break
        reconnected_at = time.monotonic() - client.start_time
        depth_mid = queue_depth(survivor, vhost, queue)
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
                depth_after = queue_depth(survivor, vhost, queue)
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
                depth_after = queue_depth(survivor, vhost, queue)
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
    check(not client.failed(), 'rabbitmq', 'commands failed: the app answers without waiting for the broker', figures)
    check(victim not in moved and sum(moved.values()) >= sum(per_node.values()), 'rabbitmq',
          'the app did not reconnect to the surviving nodes within %d s' % reconnect_s, figures)
    # The connections the stopped node held came back on the survivors (they gained them).
    check(sum(moved.values()) - sum(v for n, v in per_node.items() if n != victim) >= per_node.get(victim, 0) > 0,
          'rabbitmq', 'the surviving nodes did not gain the stopped node\'s app connections', figures)
    check(len(accepted_after) >= 50, 'rabbitmq', 'too few commands after the reconnect to judge', figures)
    check(lost <= len(in_window), 'rabbitmq',
          'events accepted outside the reconnect window are missing from %s: %d commands answered 200, the depth grew '
          'by %d, %d lost, more than the %d answered between the loss and the reconnect'
          % (queue, len(accepted), depth_after - depth_before, lost, len(in_window)), figures)
    return figures


def firewall(ep):
    """Issue 13: every lab host holds the collection's table with input policy drop, and probes from
    every host and this machine find each port reachable exactly as the policy says."""
    held = firewall_probe.tables(ep)
    figures = {'hosts': len(held)}
    check(all(t.get('input_policy') == 'drop' and t.get('rules', 0) > 0 for t in held.values()), 'firewall',
          'a host lacks table inet flash with input policy drop: %s' % json.dumps(held), figures)
    matrix, problems = firewall_probe.check_matrix(ep)
    figures.update(matrix)
    check(not problems, 'firewall', '%d probes differ from the policy: %s' % (len(problems), '; '.join(problems[:20])), figures)
    return figures


def store_current(path):
    """Name -> (version, value) of the newest version of each secret in the lab's plain store."""
    import yaml  # the toolchain's PyYAML (make puts .venv/bin first on PATH)
    with open(path) as handle:
        data = yaml.safe_load(handle)
    out = {}
    for name, entry in data['secrets'].items():
        newest = max(entry['versions'], key=lambda v: v['version'])
        out[name] = (newest['version'], newest['value'])
    return out


def redis_auth_ok(host, port, user, password):
    proc = subprocess.run(['docker', 'exec', '-e', 'REDISCLI_AUTH', host, 'redis-cli', '-p', str(port), '--user', user,
                           '--no-auth-warning', 'PING'], env=dict(os.environ, REDISCLI_AUTH=password),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False, timeout=15)
    return proc.stdout.strip() == 'PONG'


def rabbitmq_auth_ok(host, user, password):
    proc = subprocess.run(['docker', 'exec', '-i', host, 'rabbitmqctl', 'authenticate_user', user], input=password + '\n',
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False, timeout=60)
    return proc.returncode == 0 and 'Success' in proc.stdout


# Salts are rotated only when named (rotate_secrets.yml): a forced run leaves them as they are.
NOT_ROTATED_BY_DEFAULT = ('app_encryption_salt', 'app_hash_salt')


# The production path of a rotation (issue 16.9): the lab's inventory says overlap 0s, so the forced
# run gives redis_app an overlap (-e) that outlasts the run; the old Redis password stays valid
# through it and a later run, once the window is over, removes it. The window must outlast the
# forced run (about 4 min on an idle 2-core machine): LAB_REDIS_OVERLAP_S raises it on a loaded one.
REDIS_OVERLAP_S = int(os.environ.get('LAB_REDIS_OVERLAP_S', '600'))


def lab_policies(**overrides):
    """The lab inventory's rotation_policies, with some secrets' policies changed."""
    import yaml
    with open(os.path.join(ROOT, 'inventories', 'lab', 'group_vars', 'all', 'rotation.yml')) as handle:
        policies = yaml.safe_load(handle)['rotation_policies']
    for name, changes in overrides.items():
        policies[name] = dict(policies[name], **changes)
    return policies


def store_entry(path, name):
    """(current value, previous value or None, end of the recorded overlap window as epoch seconds)."""
    import calendar
    import yaml
    with open(path) as handle:
        entry = yaml.safe_load(handle)['secrets'][name]
    versions = sorted(entry['versions'], key=lambda v: v['version'], reverse=True)
    created = calendar.timegm(time.strptime(versions[0]['created'], '%Y-%m-%dT%H:%M:%SZ'))
    return (versions[0]['value'], versions[1]['value'] if len(versions) > 1 else None,
            created + int(entry.get('overlap') or 0))


def redis_check(ep, password, expect, hosts=None):
    """Every (or the given) Redis host's instances accept (expect=True) or refuse the app password."""
    results = {}
    for host in hosts or ep['groups']['redis']:
        for port in (6379, 6380):
            results['%s:%d' % (host, port)] = redis_auth_ok(host, port, ep['redis']['app_user'], password)
    return all(v == expect for v in results.values()) and bool(results), results


# Redis's own users in the lab (the redis role's defaults) and their secrets in the store.
REDIS_INTERNAL_USERS = {'redis_admin': 'flash-admin', 'redis_replication': 'flash-replication',
                        'redis_sentinel': 'flash-sentinel', 'redis_monitoring': 'flash-monitoring'}


def redis_user_check(ep, user, password, expect):
    """Every Redis host's instances accept (expect=True) or refuse one user's password."""
    results = {}
    for host in ep['groups']['redis']:
        for port in (6379, 6380):
            results['%s:%d' % (host, port)] = redis_auth_ok(host, port, user, password)
    return all(v == expect for v in results.values()) and bool(results), results


def sentinel_views(ep):
    """Each Sentinel's view of each master: its flags, replicas and other Sentinels, and CKQUORUM."""
    with open(ep['credentials']['redis-sentinel-auth']) as handle:
        auth = handle.read().strip()
    views = {}
    for sentinel in ep['redis']['sentinels']:
        host, port = sentinel.rsplit(':', 1)
        for name in ('flash-session', 'flash-cache'):
            def ask(*args):
                return subprocess.run(['docker', 'exec', '-e', 'REDISCLI_AUTH', host, 'redis-cli', '-p', port] + list(args),
                                      env=dict(os.environ, REDISCLI_AUTH=auth), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, universal_newlines=True, check=False, timeout=15).stdout
            fields = ask('SENTINEL', 'MASTER', name).split('\n')
            master = dict(zip(fields[0::2], fields[1::2]))
            views['%s %s' % (host, name)] = {
                'flags': master.get('flags'), 'replicas': master.get('num-slaves'),
                'other_sentinels': master.get('num-other-sentinels'),
                'ckquorum': ask('SENTINEL', 'CKQUORUM', name).strip().split(' ')[0]}
    healthy = all(v['flags'] == 'master' and v['replicas'] == str(len(ep['groups']['redis']) - 1)
                  and v['other_sentinels'] == str(len(ep['redis']['sentinels']) - 1) and v['ckquorum'] == 'OK'
                  for v in views.values())
    return healthy and bool(views), views


def rabbitmq_check(ep, password, expect, hosts=None):
    results = dict((host, rabbitmq_auth_ok(host, ep['rabbitmq']['app_user'], password))
                   for host in hosts or ep['groups']['rabbitmq'])
    return all(v == expect for v in results.values()) and bool(results), results


def leaked(values, texts):
    return sorted(set(name for name, value in values.items() if value and any(value in text for text in texts)))


def rotate(ep):
    """Forced rotation of every secret under load, -vvv, redis_app with an overlap window."""
    store = ep['redis']['app_password']['store']
    before = store_current(store)
    cmd = ['ansible-playbook', '-i', 'inventories/lab', 'playbooks/rotate_secrets.yml', '-vvv',
           '-e', json.dumps({'rotation_policies': lab_policies(redis_app={'overlap': REDIS_OVERLAP_S})})]
    client, (rc, out, secs) = with_client(['/health', '/api/balance?user=', '/api/commands'],
                                          lambda: run(cmd + ['-e', 'rotate_secrets_force=true'], 'rotate.log'))
    after = store_current(store)
    figures = dict(summary(client), seconds=secs, running=running_versions(),
                   versions={n: [before[n][0], after[n][0]] for n in after})
    check(rc == 0, 'rotate', 'rotate_secrets.yml failed (.build/lab-check/rotate.log)', figures)
    check(figures['failed'] == 0, 'rotate', 'requests failed during the rotation', figures)
    check(all(after[n][0] == before[n][0] + 1 for n in before if n not in NOT_ROTATED_BY_DEFAULT), 'rotate',
          'not one new version per secret', figures)
    check(all(after[n] == before[n] for n in before if n in NOT_ROTATED_BY_DEFAULT), 'rotate',
          'a forced rotation changed a salt', figures)
    # No value, old or new, in the -vvv output or in any log this run wrote.
    values = [v for n in before for v in (before[n][1], after[n][1])]
    logs = [open(f).read() for f in glob.glob(os.path.join(LOGS, '*.log'))]
    leaks = [n for n in before for v in (before[n][1], after[n][1]) if any(v in text for text in logs + [out])]
    figures['leaked'] = sorted(set(leaks))
    check(not leaks and len(values) == 2 * len(before), 'rotate', 'a secret value appears in the output or a log', figures)
    # And in no log the lab keeps: every host's journal, /var/log and console, every app
    # container's console (the search first proves it finds a planted marker).
    host_leaks, sources = log_search.search(values, sorted(ep['hosts']))
    figures['log_sources_searched'] = sources
    figures['leaked_in_lab_logs'] = sorted(set(name for where in host_leaks.values() for name in where))
    check(not host_leaks, 'rotate', 'a secret value appears in a lab host or container log', figures)
    # Inside redis_app's overlap window: the old password still opens every Redis instance (a
    # client that has not moved yet keeps working) and the new one too. RabbitMQ keeps one
    # password per user: the old one is refused at once (open connections stay).
    window_end = store_entry(store, 'redis_app')[2]
    figures['redis_overlap_left_s'] = round(window_end - time.time(), 1)
    check(figures['redis_overlap_left_s'] > 30, 'rotate',
          'the run outlasted the %d s overlap given to redis_app: its window cannot be checked' % REDIS_OVERLAP_S, figures)
    ok_old, old_res = redis_check(ep, before['redis_app'][1], expect=True)
    ok_new, new_res = redis_check(ep, after['redis_app'][1], expect=True)
    ok_rmq_old, rmq_old_res = rabbitmq_check(ep, before['rabbitmq_app'][1], expect=False)
    ok_rmq_new, rmq_new_res = rabbitmq_check(ep, after['rabbitmq_app'][1], expect=True)
    figures.update(redis_old_accepted=old_res, redis_new_accepted=new_res, rabbitmq_old_refused=rmq_old_res,
                   rabbitmq_new_accepted=rmq_new_res)
    check(ok_old, 'rotate', 'the old Redis password does not open every instance inside its overlap window', figures)
    check(ok_new, 'rotate', 'the new Redis password does not open every instance', figures)
    check(ok_rmq_old, 'rotate', 'the old RabbitMQ password still opens a node', figures)
    check(ok_rmq_new, 'rotate', 'the new RabbitMQ password does not open every node', figures)
    # Issue 10 cases 1 and 2: Redis's own users (Sentinel's, replication's with the ascii
    # alphabet, the admin and the monitoring user) moved under load; the lab's overlap is 0 s, so
    # the run's last step already took their old passwords off. Every Sentinel still sees every
    # master with its replicas and the other Sentinels (the redis step then fails over with them).
    for name, user in sorted(REDIS_INTERNAL_USERS.items()):
        ok_new, new_res = redis_user_check(ep, user, after[name][1], expect=True)
        ok_old, old_res = redis_user_check(ep, user, before[name][1], expect=False)
        figures['%s_new_accepted' % name], figures['%s_old_refused' % name] = new_res, old_res
        check(ok_new, 'rotate', 'the new %s password does not open every instance' % name, figures)
        check(ok_old, 'rotate', 'the old %s password still opens an instance' % name, figures)
    healthy, views = sentinel_views(ep)
    figures['sentinel_views'] = views
    check(healthy, 'rotate', 'a Sentinel does not see a master, its replicas or the other Sentinels after the rotation',
          figures)
    return figures


def rotate_later(ep):
    """Issue 16.9: after redis_app's overlap window, a run (nothing due) under load removes the old
    password from every instance and rolls nothing; the new one survives a restart; a run after
    that is a quick no-op; bad input is refused naming the variable, the store unchanged."""
    store = ep['redis']['app_password']['store']
    new, old, window_end = store_entry(store, 'redis_app')
    figures = {}
    check(old is not None and window_end > 0, 'rotate-later', 'redis_app has no previous version with an overlap'
          ' (run the rotate step first)', figures)
    figures['waited_for_window_s'] = round(max(0.0, window_end + 5 - time.time()), 1)
    time.sleep(figures['waited_for_window_s'])
    # The window is over, but only a run takes the old password off: it still opens every node.
    ok_held, held_res = redis_check(ep, old, expect=True)
    figures['old_still_held_before_the_run'] = held_res
    check(ok_held, 'rotate-later', 'the old Redis password went before a run removed it', figures)
    before = store_current(store)
    apps_before = app_containers()
    cmd = ['ansible-playbook', '-i', 'inventories/lab', 'playbooks/rotate_secrets.yml']
    client, (rc, out, secs) = with_client(['/health', '/api/balance?user=', '/api/commands'],
                                          lambda: run(cmd, 'rotate-later.log'))
    changed_hosts = sorted(set(re.findall(r'^(\S+) +: ok=\d+ +changed=[1-9]', out, re.M)))
    figures.update(summary(client), seconds=secs, changed_hosts=changed_hosts)
    check(rc == 0, 'rotate-later', 'the run after the overlap failed (.build/lab-check/rotate-later.log)', figures)
    check(figures['failed'] == 0, 'rotate-later', 'requests failed while the old password was removed', figures)
    check(store_current(store) == before, 'rotate-later', 'the run after the overlap rotated something', figures)
    check(changed_hosts and set(changed_hosts) <= set(ep['groups']['redis']), 'rotate-later',
          'the removal changed other hosts than the Redis ones (or none)', figures)
    check(app_containers() == apps_before, 'rotate-later', 'the app was redeployed for the removal', figures)
    ok_old, old_res = redis_check(ep, old, expect=False)
    ok_new, new_res = redis_check(ep, new, expect=True)
    figures.update(redis_old_refused=old_res, redis_new_accepted=new_res)
    check(ok_old, 'rotate-later', 'the old Redis password still opens an instance after its window', figures)
    check(ok_new, 'rotate-later', 'the new Redis password does not open every instance', figures)
    # The passwords survive a restart of each service (a Redis host's instances, a RabbitMQ node).
    rmq_new = store_current(store)['rabbitmq_app'][1]
    redis_host, rmq_host = ep['groups']['redis'][-1], ep['groups']['rabbitmq'][-1]
    subprocess.run(['docker', 'exec', redis_host, 'systemctl', 'restart', 'redis-server@session', 'redis-server@cache'],
                   check=True, timeout=120)
    subprocess.run(['docker', 'exec', rmq_host, 'systemctl', 'restart', 'rabbitmq-server'], check=True, timeout=300)
    subprocess.run(['docker', 'exec', rmq_host, 'rabbitmqctl', 'await_startup'], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    ok_r_new, r_new = redis_check(ep, new, expect=True, hosts=[redis_host])
    ok_r_old, r_old = redis_check(ep, old, expect=False, hosts=[redis_host])
    ok_q_new, q_new = rabbitmq_check(ep, rmq_new, expect=True, hosts=[rmq_host])
    figures['after_restart'] = dict(redis_new=r_new, redis_old=r_old, rabbitmq_new=q_new)
    check(ok_r_new and ok_r_old and ok_q_new, 'rotate-later', 'the passwords did not survive the restart', figures)
    # Nothing due, nothing to remove: a quick run that changes nothing and adds no version.
    current = store_current(store)
    rc2, out2, secs2 = run(cmd, 'rotate-again.log')
    figures['no_op_run_seconds'] = secs2
    check(rc2 == 0 and not re.search(r'changed=[1-9]', out2), 'rotate-later', 'the no-op run changed something', figures)
    check(store_current(store) == current, 'rotate-later', 'the no-op run added a version', figures)
    figures['leaked'] = leaked({'redis_app_old': old, 'redis_app': new}, [out, out2])
    check(not figures['leaked'], 'rotate-later', 'a Redis password appears in the output', figures)
    # Bad input: refused before any change, naming the variable; the store unchanged.
    digest = hashlib.sha256(open(store, 'rb').read()).hexdigest()
    policies = {n: {'length': 32, 'period': '90d', 'overlap': '0s'} for n in current}
    weak = dict(policies, redis_app={'length': 16, 'period': '90d', 'overlap': '0s'})
    long_overlap = dict(policies, redis_app={'length': 32, 'period': '1d', 'overlap': '2d'})
    missing_vault = os.path.join(ROOT, '.build', 'lab-check', 'no-such-store.vault.yml')
    cases = [
        ('unknown secret', ['-e', json.dumps({'rotate_secrets_names': ['redis_app', 'no_such_secret']})], 'rotate_secrets_names'),
        ('weaker than 24 characters', ['-e', json.dumps({'rotation_policies': weak})], 'secrets.redis_app.length'),
        ('overlap longer than the period', ['-e', json.dumps({'rotation_policies': long_overlap})], 'secrets.redis_app.overlap'),
        ('no vault password', ['-e', json.dumps({'rotation_store': missing_vault, 'rotation_store_encrypt': True})], 'vault password'),
    ]
    refused = {}
    for name, extra, needle in cases:
        rc3, out3, dummy = run(cmd + extra, 'rotate-bad-%s.log' % name.replace(' ', '-'))
        refused[name] = rc3 != 0 and needle in out3 and 'changed=0' in out3
    figures['bad_input_refused'] = refused
    check(all(refused.values()), 'rotate-later', 'bad input was not refused naming the variable', figures)
    check(hashlib.sha256(open(store, 'rb').read()).hexdigest() == digest and not os.path.exists(missing_vault),
          'rotate-later', 'bad input changed the store', figures)
    return figures


def store_bytes(path):
    with open(path, 'rb') as handle:
        return handle.read()


def redis_admin(host, port, *args):
    """A command on one instance as the lab's Redis admin (its password from the rotation store)."""
    password = store_current(endpoints()['redis']['app_password']['store'])['redis_admin'][1]
    return subprocess.run(['docker', 'exec', '-e', 'REDISCLI_AUTH', host, 'redis-cli', '-p', str(port), '--user',
                           'flash-admin', '--no-auth-warning'] + list(args), env=dict(os.environ, REDISCLI_AUTH=password),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False,
                          timeout=15).stdout.strip()


class RefuseNewPassword(threading.Thread):
    """Sabotage for the Undo test: as soon as the run stored a new redis_app version, take that
    password off one instance whenever the rotation gives it (ACL SETUSER <user> <#hash), so the
    instance refuses the new password, as a node that lost the change would."""

    def __init__(self, store, old_value, host, port, user):
        super(RefuseNewPassword, self).__init__(daemon=True)
        self.store, self.old_value, self.host, self.port, self.user = store, old_value, host, port, user
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
                if digest in redis_admin(self.host, self.port, 'ACL', 'GETUSER', self.user):
                    if redis_admin(self.host, self.port, 'ACL', 'SETUSER', self.user, '<' + self.new_value) == 'OK':
                        self.removed += 1
            self.stopping.wait(0.3)

    def stop(self):
        self.stopping.set()
        self.join(30)


def undo_check(ep, step, log_name, extra, needle, sabotage_on, sabotage_off, secret, client_paths):
    """Run a forced rotation of one secret whose gate fails on purpose (sabotage_on/off); the
    rescue must put the store back byte for byte, keep the passwords valid before the run, refuse
    the discarded one, and the app answers 200 throughout."""
    store = ep['redis']['app_password']['store']
    bytes_before = store_bytes(store)
    before = store_current(store)
    redis_valid_before = [v for v in store_entry(store, 'redis_app')[:2] if v]
    pending = store + '.deploy-pending'
    pending_before = os.path.exists(pending)
    cmd = ['ansible-playbook', '-i', 'inventories/lab', 'playbooks/rotate_secrets.yml',
           '-e', json.dumps({'rotate_secrets_names': [secret], 'rotate_secrets_force': [secret]})] + extra
    handle = sabotage_on()
    try:
        client, (rc, out, secs) = with_client(client_paths, lambda: run(cmd, log_name))
    finally:
        sabotage_off(handle)
    figures = dict(summary(client), seconds=secs)
    where = '(.build/lab-check/%s)' % log_name
    check(rc != 0, step, 'the rotation passed a gate that should have failed %s' % where, figures)
    check(needle in out, step, 'the failure does not name the gate: %r not in the output %s' % (needle, where), figures)
    check(re.search(r'^(\S+) +: .*rescued=[1-9]', out, re.M) is not None, step, 'no Undo (rescue) ran %s' % where, figures)
    figures['store_versions'] = {n: v[0] for n, v in store_current(store).items()}
    check(store_bytes(store) == bytes_before and store_current(store) == before, step,
          'the store is not what it was before the run (bytes or versions)', figures)
    check(os.path.exists(pending) == pending_before, step, "the app's roll mark is not what it was", figures)
    check(figures['failed'] == 0, step, 'requests failed while the rotation was undone', figures)
    ok_r, r_res = redis_check(ep, redis_valid_before[0], expect=True)
    ok_q, q_res = rabbitmq_check(ep, before['rabbitmq_app'][1], expect=True)
    figures.update(redis_previous_accepted=r_res, rabbitmq_previous_accepted=q_res)
    check(ok_r and ok_q, step, 'a password valid before the run no longer opens every node', figures)
    return figures, handle


def undo_redis(ep):
    """Issue 16.9: the Redis gate fails (one instance refuses the new password): the Undo puts the
    store back, the passwords valid before the run open every instance, the discarded one none."""
    store = ep['redis']['app_password']['store']
    victim = ep['groups']['redis'][-1]
    old = store_entry(store, 'redis_app')[0]

    def on():
        saboteur = RefuseNewPassword(store, old, victim, 6379, ep['redis']['app_user'])
        saboteur.start()
        return saboteur

    figures, saboteur = undo_check(
        ep, 'undo-redis', 'rotate-undo-redis.log', ['-e', 'rotate_secrets_redis_gate_timeout=10'],
        'redis_app: the new password did not pass its gate', on, lambda s: s.stop(), 'redis_app',
        ['/health', '/api/balance?user=', '/api/commands'])
    figures['sabotage'] = {'instance': '%s:6379' % victim, 'new_password_taken_off': saboteur.removed}
    check(saboteur.new_value and saboteur.removed >= 1, 'undo-redis', 'the sabotage never ran: nothing was tested', figures)
    ok, res = redis_check(ep, saboteur.new_value, expect=False)
    figures['discarded_refused'] = res
    check(ok, 'undo-redis', 'the discarded new password still opens an instance', figures)
    return figures


def rabbitmq_watermark(node, value=None):
    """Read (value None) or set a node's vm_memory_high_watermark at runtime."""
    if value is None:
        out = subprocess.run(['docker', 'exec', node, 'rabbitmqctl', 'eval', 'vm_memory_monitor:get_vm_memory_high_watermark().'],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True, timeout=60).stdout.strip()
        return out
    subprocess.run(['docker', 'exec', node, 'rabbitmqctl', 'set_vm_memory_high_watermark'] + value.split(),
                   stdout=subprocess.DEVNULL, check=True, timeout=60)
    return value


def undo_rabbitmq(ep):
    """Issue 16.9: the RabbitMQ gate fails (a node in memory alarm): the Undo puts the store and the
    previous password back; the discarded one opens no node; chat commands answer 200 once the
    alarm is over."""
    victim = ep['groups']['rabbitmq'][-1]
    saved = rabbitmq_watermark(victim)
    # {absolute, N} or a fraction, as the node reports it.
    restore = 'absolute %s' % re.search(r'\d+', saved).group(0) if 'absolute' in saved else saved
    store = ep['redis']['app_password']['store']
    new_seen = {}

    def on():
        rabbitmq_watermark(victim, '0.000001')
        return None

    def off(_handle):
        new_seen['value'] = store_current(store)['rabbitmq_app'][1]  # the store is back by now
        rabbitmq_watermark(victim, restore)

    figures, dummy = undo_check(
        ep, 'undo-rabbitmq', 'rotate-undo-rabbitmq.log', ['-e', 'rotate_secrets_rabbitmq_gate_timeout=10'],
        'rabbitmq_app: the new password did not pass its gate', on, off, 'rabbitmq_app',
        ['/health', '/api/balance?user='])
    figures['alarm'] = {'node': victim, 'watermark_restored': restore}
    # The app publishes again once the alarm is over (its events need the broker).
    client, dummy = with_client(['/api/commands'], lambda: time.sleep(5), settle=1.0)
    figures['commands_after_alarm'] = summary(client)
    check(figures['commands_after_alarm']['failed'] == 0 and figures['commands_after_alarm']['requests'] > 0,
          'undo-rabbitmq', 'chat commands fail after the alarm is over', figures)
    return figures


def no_redeploy(ep):
    """Issue 16.9: the app containers recorded before the Redis failover (ids and start times) are
    the same after the failover and the converge that follows it: nothing was redeployed."""
    del ep
    with open(os.path.join(LOGS, 'app-containers-before-failover.json')) as handle:
        before = json.load(handle)
    after = app_containers()
    figures = {'app_containers': len(after), 'changed': sorted(set(before.items()) ^ set(after.items()))}
    check(before and after == before, 'no-redeploy', 'the app containers changed since the Redis failover', figures)
    return figures


if __name__ == '__main__':
    main()
