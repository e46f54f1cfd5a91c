# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Releases under load (issues 6, 14, 16.3): a client sends requests through the proxy (its URL
and CA file from endpoints.json) the whole time; each test names the release it starts from
(@pytest.mark.release, made live by the live_release fixture when it is not)."""
import re
import subprocess

import pytest

from acceptance import helpers
from acceptance.helpers import running_versions, summary, with_client


@pytest.mark.release('1.0.0')
def test_deploy(live_release, figures):
    """make lab-deploy TAG=1.1.0 under load: 0 failed requests, v1.1.0 served after (1.0.0 then
    1.1.0 only, old workers' answers inside nginx's reload window aside: reload_echoes), the old
    colour stopped."""
    result, rc, dummy = helpers.step_deploy('1.1.0')
    figures.update(result)
    problems = helpers.deploy_checks(figures, rc, '1.1.0')
    assert not problems, '; '.join(problems)
    assert figures['versions_seen'] == ['1.0.0', '1.1.0'], 'expected 1.0.0 then 1.1.0 only'


@pytest.mark.release('1.1.0')
def test_broken_release(live_release, figures):
    """make lab-deploy TAG=1.2.0-broken: the play fails naming the direct gate, 0 failed
    requests, only 1.1.0 served throughout, one colour seen by the client, no 1.2.0-broken
    container left running."""
    client, (rc, out, secs) = with_client(['/health', '/api/balance?user='],
                                          lambda: helpers.run(['make', '--no-print-directory', 'lab-deploy', 'TAG=1.2.0-broken'],
                                                              'deploy-broken.log'))
    figures.update(summary(client), seconds=secs, running=running_versions())
    assert rc != 0, 'the broken release was accepted'
    assert 'direct gate of the' in out and 'Traffic stayed on' in out, \
        'the failure does not name the gate (.build/lab-check/deploy-broken.log)'
    assert figures['failed'] == 0, 'requests failed while the broken release was tried'
    assert figures['versions_seen'] == ['1.1.0'], 'something else than 1.1.0 was served'
    # Issue 16.3: what the client saw, not what the playbook printed - one colour throughout.
    assert len(figures['colours_seen']) == 1, 'traffic left the live colour'
    assert not any('1.2.0-broken' in v for v in figures['running']), 'broken containers still run'


@pytest.mark.release('1.1.0')
def test_bad_credential(live_release, figures):
    """(issue 14) 1.1.0 again with a wrong app Redis password: the release starts, but the direct
    gate's own Redis check (the app's AUTH and a write) fails it naming the check, with the app's
    log lines, 0 failed requests, one colour seen, the refused colour not left running."""
    client, (rc, out, secs) = with_client(
        ['/health', '/api/balance?user='],
        lambda: helpers.run(['ansible-playbook', '-i', 'inventories/lab', 'playbooks/deploy.yml', '-e', 'app_image_tag=1.1.0',
                             '-e', 'app_redis_password=wrong-redis-password-0d3f9a7c', '-e', 'app_wait_timeout=20'],
                            'deploy-bad-credential.log'))
    figures.update(summary(client), seconds=secs, running=running_versions())
    assert rc != 0, 'a release with a wrong Redis password was accepted'
    assert ('direct gate of the' in out and "redis: the app's AUTH and a write" in out and 'WRONGPASS' in out
            and 'Redis connection error' in out and 'Traffic stayed on' in out), \
        'the failure does not name the Redis check with the app log lines (.build/lab-check/deploy-bad-credential.log)'
    assert figures['failed'] == 0, 'requests failed while the release was tried'
    assert len(figures['colours_seen']) == 1, 'traffic left the live colour'
    assert len(set(v.split('=')[0] for v in figures['running'])) == 1, 'the refused colour still runs'


@pytest.mark.release('1.1.0')
def test_proxy_gate(live_release, figures):
    """A good release (1.0.0, from 1.1.0) whose gate through the proxy fails (latency ceiling
    0.001 ms): the proxy switches back, 0 failed requests, the client saw live -> new -> live (or
    live only), the new colour's containers are stopped."""
    client, (rc, out, secs) = with_client(
        ['/health', '/api/balance?user='],
        lambda: helpers.run(['ansible-playbook', '-i', 'inventories/lab', 'playbooks/deploy.yml', '-e', 'app_image_tag=1.0.0',
                             '-e', 'deploy_gate_max_latency_ms=0.001', '-e', 'deploy_gate_timeout=6'], 'deploy-proxy-gate.log'))
    figures.update(summary(client), seconds=secs, running=running_versions())
    assert rc != 0, 'a failing proxy gate was accepted'
    assert 'gate through the proxy' in out and 'Traffic is back on' in out, \
        'the failure does not name the proxy gate (.build/lab-check/deploy-proxy-gate.log)'
    assert figures['failed'] == 0, 'requests failed during the switch and switch-back'
    assert figures['versions_seen'][-1:] == ['1.1.0'], 'the proxy does not serve 1.1.0 again'
    # Issue 16.3: the colours the client saw, in order: the live one, perhaps the new one
    # while the gate ran, then the live one again - never ending on the new colour.
    colours = figures['colours_seen']
    assert len(colours) in (1, 3) and colours[0] == colours[-1], 'the colours seen were not live -> new -> live: %s' % colours
    assert all(v.endswith('=1.1.0') for v in figures['running']), 'the new colour still runs'


@pytest.mark.release('1.1.0', previous='1.0.0')
def test_rollback(live_release, figures):
    """make lab-rollback (1.1.0 live, 1.0.0 the previous release): back to 1.0.0, 0 failed
    requests, 1.1.0 then 1.0.0 served (answers of nginx's old workers inside the reload window are
    the figures' reload_echoes, helpers.settled_sequence; a switch back that stays still fails)."""
    client, (rc, dummy, secs) = with_client(['/health', '/api/commands'],
                                            lambda: helpers.run(['make', '--no-print-directory', 'lab-rollback'], 'rollback.log'))
    figures.update(summary(client), seconds=secs, running=running_versions())
    assert rc == 0, 'make lab-rollback failed (.build/lab-check/rollback.log)'
    assert figures['failed'] == 0, 'requests failed during the rollback'
    assert figures['versions_seen'] == ['1.1.0', '1.0.0'], 'expected 1.1.0 then 1.0.0'


def same_tag_deploy(tag, wanted_id, log_name, figures):
    """Deploy TAG whose image id changed under load: a switch to the idle colour, which alone then
    runs wanted_id; 0 failed requests. Fills figures."""
    before = helpers.app_images()
    result, rc, out = helpers.step_deploy(tag, log_name)
    after = helpers.app_images()
    figures.update(result, image=wanted_id, images_before={c: sorted(i) for c, i in before.items()},
                   images_after={c: sorted(i) for c, i in after.items()})
    problems = helpers.deploy_checks(figures, rc, tag, log_name)
    assert not problems, '; '.join(problems)
    where = '(.build/lab-check/%s)' % log_name
    assert re.search(r'-> (blue|green) \(switch', out) is not None, \
        'the plan did not go blue/green for a tag whose image id changed %s' % where
    assert figures['versions_seen'] == [tag], 'something else than %s was served' % tag
    colours = figures['colours_seen']
    assert len(colours) == 2, 'the client did not see exactly one switch of colour'
    assert len(before) == 1 and wanted_id not in set().union(*before.values()), \
        'before the deploy, one colour should run an older image id'
    assert list(after) == [colours[-1]] and after[colours[-1]] == {wanted_id}, \
        'after the deploy, the new colour alone should run image %s' % wanted_id


@pytest.mark.release('1.0.0')
def test_same_tag(live_release, figures):
    """(issue 14) reference-app:1.0.0 rebuilt (a new image id under the same tag) and deployed
    with TAG=1.0.0 under load: the plan goes blue/green (switch), 0 failed requests, the client
    sees the colour change once, and the app hosts run the new image id on the new colour only;
    then the tag moved back to its first image, the same again (which also leaves the lab on the
    image `make lab` tags)."""
    tag = live_release
    old_id, new_id = helpers.rebuild_tag(tag)
    figures.update(rebuilt={}, moved_back={})
    try:
        same_tag_deploy(tag, new_id, 'deploy-same-tag.log', figures['rebuilt'])
    finally:
        # The tag goes back to its first image even when the first deploy failed.
        subprocess.run(['docker', 'tag', old_id, '%s:%s' % (helpers.APP_IMAGE, tag)], check=True)
    same_tag_deploy(tag, old_id, 'deploy-same-tag-back.log', figures['moved_back'])
    helpers.prune_rebuilt()


@pytest.mark.after_destroy
def test_prune():
    """Remove the rebuilt images of same-tag that no container uses any more (scripts/lab-check.sh
    runs it after lab-destroy, when the last of them is free; it needs no lab)."""
    helpers.prune_rebuilt()
