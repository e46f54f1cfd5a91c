# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures of the lab acceptance, the order its tests run in, and their figures.

Run on a built lab (`make lab`; the lab is shared: take /tmp/flash-lab.lock first):

    pytest tests/lab/acceptance                      # every test, in ORDER below
    pytest tests/lab/acceptance -k rollback          # one test on its own
    pytest tests/lab/acceptance -m 'not after_converge and not after_destroy' --require-records \
        --figures .build/lab-check/acceptance.jsonl  # what scripts/lab-check.sh runs first

Each test states its preconditions with fixtures that establish them when they do not hold (a
deploy, a rotation, waiting for the cluster) and do nothing when they do: alone on a fresh lab a
test does what it needs first; in ORDER, the tests before it have left the lab as it needs it,
and the figures name any precondition a fixture had to establish. Each test prints one JSON line,
{"step": ..., "ok": ..., "figures": {...}} (with "error" when it failed), on the terminal and, with
--figures FILE, into FILE.

Markers: after_converge (no-redeploy: run after the converge that follows the Redis failover) and
after_destroy (prune: after lab-destroy); --require-records makes a missing record a failure
instead of a skip (the lab-check's runs).
"""
import json
import os
import time

import pytest

from acceptance import helpers

# The lab-check's order (test function, step name of its JSON line). It matters: the rotation
# runs before the Redis failover (which then fails over with the new credentials), and the
# failovers fill most of redis_app's overlap window before rotate-later waits for its end.
ORDER = (
    ('test_firewall', 'firewall'),
    ('test_deploy', 'deploy'),
    ('test_broken_release', 'broken'),
    ('test_bad_credential', 'bad-credential'),
    ('test_proxy_gate', 'proxy-gate'),
    ('test_rollback', 'rollback'),
    ('test_same_tag', 'same-tag'),
    ('test_undo_redis', 'undo-redis'),
    ('test_undo_rabbitmq', 'undo-rabbitmq'),
    ('test_rotate', 'rotate'),
    ('test_redis_failover', 'redis'),
    ('test_rabbitmq_node_loss', 'rabbitmq'),
    ('test_rotate_later', 'rotate-later'),
    ('test_no_redeploy', 'no-redeploy'),
    ('test_prune', 'prune'),
)
STEP = dict(ORDER)
RANK = dict((name, index) for index, (name, dummy) in enumerate(ORDER))

# redis_app's overlap when the rotate-later test has to make one itself: long enough to outlast a
# forced rotation of redis_app alone (its last step would otherwise take the old password off
# already), short enough to wait for.
LATER_OVERLAP_S = int(os.environ.get('LAB_LATER_OVERLAP_S', '240'))


def pytest_addoption(parser):
    group = parser.getgroup('flash-lab', 'the lab acceptance (tests/lab/acceptance)')
    group.addoption('--figures', metavar='FILE', help='write each test\'s JSON line of figures into FILE too')
    group.addoption('--append-figures', action='store_true', help='append to the --figures FILE instead of rewriting it')
    group.addoption('--require-records', action='store_true',
                    help='a record a test needs from an earlier stage (the Redis failover\'s) must exist: fail, never skip')


def pytest_configure(config):
    config.addinivalue_line('markers', 'after_converge: runs after the converge that follows the Redis failover')
    config.addinivalue_line('markers', 'after_destroy: runs after lab-destroy (no lab needed)')
    config.addinivalue_line('markers', 'release(tag, previous=None): the release live_release makes live before the test')
    path = config.getoption('--figures', default=None)
    if path and not config.getoption('--append-figures'):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        open(path, 'w').close()


def pytest_collection_modifyitems(items):
    """The lab-check's order, whatever the files' order; tests not in ORDER last."""
    items.sort(key=lambda item: RANK.get(getattr(item, 'originalname', item.name), len(ORDER)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, 'rep_' + report.when, report)


def _error(report):
    crash = getattr(report.longrepr, 'reprcrash', None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.split('\n', 1)[0].replace('AssertionError: ', '', 1)


def _emit(config, line):
    text = json.dumps(line)
    reporter = config.pluginmanager.getplugin('terminalreporter')
    if reporter is not None:
        reporter.write_line(text)
    else:
        print(text)
    path = config.getoption('--figures', default=None)
    if path:
        with open(path, 'a') as handle:
            handle.write(text + '\n')


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    """The test's JSON line, once its result is known (after the terminal shows it): its figures,
    the preconditions its fixtures established, and the first failure's message."""
    item = _ITEMS.get(report.nodeid)
    if item is None or report.skipped:
        return
    if report.when == 'call' or (report.when == 'setup' and report.failed):
        step = STEP.get(getattr(item, 'originalname', item.name), item.name)
        line = {'step': step, 'ok': report.passed}
        if report.failed:
            line['error'] = ('setup: ' if report.when == 'setup' else '') + _error(report)
        figures = item.funcargs.get('figures') if hasattr(item, 'funcargs') else None
        line['figures'] = dict(figures or {})
        if report.when == 'call':
            line['figures']['step_seconds'] = round(report.duration, 1)
        if getattr(item, 'established', None):
            line['preconditions_established'] = item.established
        _emit(item.config, line)


_ITEMS = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _ITEMS[item.nodeid] = item
    item.established = []


@pytest.fixture
def figures():
    """The test's figures: printed as its JSON line, passed or failed."""
    return {}


@pytest.fixture
def established(request):
    """Where a precondition fixture notes what it had to do (the JSON line names it)."""
    return request.node.established


@pytest.fixture(scope='session')
def ep():
    """The lab's endpoints.json: everything a test reaches is named there."""
    if not os.path.exists(helpers.ENDPOINTS):
        pytest.fail('no %s: the lab is not built (make lab)' % helpers.ENDPOINTS, pytrace=False)
    os.makedirs(helpers.LOGS, exist_ok=True)
    return helpers.endpoints()


def _deploy(tag, established, why):
    log_name = 'setup-deploy-%s.log' % tag
    started = time.monotonic()
    rc, dummy, dummy = helpers.run(['make', '--no-print-directory', 'lab-deploy', 'TAG=' + tag], log_name)
    assert rc == 0, 'precondition: make lab-deploy TAG=%s failed (.build/lab-check/%s)' % (tag, log_name)
    established.append('deployed %s (%s; %.0f s)' % (tag, why, time.monotonic() - started))


def ensure_release(ep, established, tag, previous=None):
    """Make sure tag is live (one colour runs it alone, the release record names it) and, when
    given, that the record's previous release is `previous` (what a rollback goes back to);
    deploy only what is missing."""
    live, prior = helpers.release_state(helpers.running_versions(), helpers.release_record(ep))
    if live == tag and (previous is None or prior == previous):
        return
    if previous is not None:
        if live != previous:
            _deploy(previous, established, 'the release before %s' % tag)
        _deploy(tag, established, 'live, with %s as the previous release' % previous)
    else:
        _deploy(tag, established, 'live (was %s)' % (live or 'no single release'))
    live, prior = helpers.release_state(helpers.running_versions(), helpers.release_record(ep))
    assert live == tag and (previous is None or prior == previous), \
        'precondition: %s live with %s before it, found %s live and %s before' % (tag, previous, live, prior)


@pytest.fixture
def live_release(request, ep, established):
    """The release the test's `release` marker names is live (and its previous release, when the
    marker names one): @pytest.mark.release('1.1.0', previous='1.0.0'). Deploys in the test's
    setup only what is missing, so the test's own time and figures are its own."""
    marker = request.node.get_closest_marker('release')
    assert marker is not None, 'live_release needs @pytest.mark.release(<tag>[, previous=<tag>])'
    ensure_release(ep, established, *marker.args, **marker.kwargs)
    return marker.args[0]


@pytest.fixture
def sentinels_healthy(ep, established):
    """Every Sentinel sees every master with its replicas and the other Sentinels (waits up to
    120 s, e.g. for an old master to rejoin as a replica after a failover)."""
    started, deadline = time.monotonic(), time.monotonic() + 120
    healthy, views = helpers.sentinel_views(ep)
    waited = not healthy
    while not healthy and time.monotonic() < deadline:
        time.sleep(3)
        healthy, views = helpers.sentinel_views(ep)
    assert healthy, 'precondition: the Sentinels do not see a healthy replication: %s' % json.dumps(views)
    if waited:
        established.append('waited %.0f s for every Sentinel to see a healthy replication' % (time.monotonic() - started))
    return views


@pytest.fixture
def rabbitmq_cluster(ep, established):
    """Every RabbitMQ node of endpoints.json runs in one cluster (waits up to 180 s)."""
    nodes = sorted(helpers.rabbitmq_nodes(ep))
    started, deadline = time.monotonic(), time.monotonic() + 180
    running = helpers.running_nodes(ep)
    waited = running != nodes
    while running != nodes and time.monotonic() < deadline:
        time.sleep(3)
        running = helpers.running_nodes(ep)
    assert running == nodes, 'precondition: RabbitMQ runs %s, expected %s' % (running, nodes)
    if waited:
        established.append('waited %.0f s for every RabbitMQ node to run in the cluster' % (time.monotonic() - started))
    return nodes


@pytest.fixture
def redis_app_overlap(ep, established):
    """redis_app has a previous version, with an overlap window, that still opens every Redis
    instance (what the rotate test leaves); else a forced rotation of redis_app alone with a
    LATER_OVERLAP_S overlap makes one. Returns (new, old, window end)."""
    store = ep['redis']['app_password']['store']
    new, old, window_end = helpers.store_entry(store, 'redis_app')
    if old is not None and window_end > 0 and helpers.redis_check(ep, old, expect=True)[0]:
        return new, old, window_end
    started = time.monotonic()
    cmd = ['ansible-playbook', '-i', 'inventories/lab', 'playbooks/rotate_secrets.yml',
           '-e', json.dumps({'rotate_secrets_names': ['redis_app'], 'rotate_secrets_force': ['redis_app'],
                             'rotation_policies': helpers.lab_policies(redis_app={'overlap': LATER_OVERLAP_S})})]
    rc, dummy, dummy = helpers.run(cmd, 'setup-rotate-redis-app.log')
    assert rc == 0, 'precondition: the rotation of redis_app with an overlap failed (.build/lab-check/setup-rotate-redis-app.log)'
    new, old, window_end = helpers.store_entry(store, 'redis_app')
    assert old is not None and helpers.redis_check(ep, old, expect=True)[0], \
        'precondition: after a rotation with a %d s overlap, the old redis_app password does not open every instance' \
        % LATER_OVERLAP_S
    established.append('rotated redis_app with a %d s overlap (%.0f s)' % (LATER_OVERLAP_S, time.monotonic() - started))
    return new, old, window_end


@pytest.fixture
def failover_record(ep, request):
    """The app containers the Redis failover test recorded on this lab. Missing: a skip when the
    test runs alone (it needs the failover, then a converge, first), a failure with
    --require-records (the lab-check's run: the record must be there)."""
    containers, why = helpers.read_failover_record(ep)
    if containers is None:
        message = ('%s: run test_redis_failover, then make lab, first (scripts/lab-check.sh does)' % why)
        if request.config.getoption('--require-records'):
            pytest.fail('the Redis failover\'s record is missing: ' + message, pytrace=False)
        pytest.skip(message)
    return containers
