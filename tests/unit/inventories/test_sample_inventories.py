# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sample inventories (staging, production) load and pass every check that needs no host.

Each test works on a copy of the inventory with a vault.yml made from its vault.yml.example
(placeholder values, encrypted with a throw-away vault password, as an operator would), then:
``ansible-inventory --list``, and ``preflight.yml`` here - the inventory validation play, the
rotation store's creation, each role's argument spec and preflight - with every host reached
through the local connection (no host is contacted; ``getent`` and ``apt-cache`` are stubbed,
as the RabbitMQ preflight asks the nodes for them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
BIN = os.path.dirname(sys.executable)
ENVIRONMENTS = ['staging', 'production']

# What each group must state, so that its end of every connection is written down (a role
# default would otherwise fill it silently, e.g. app_redis_username "" or no proxy upstreams).
WIRING = {
    'redis': ['redis_app_default_user', 'redis_app_passwords', 'redis_admin_passwords', 'redis_replication_passwords',
              'redis_sentinel_passwords', 'redis_monitoring_passwords', 'redis_sentinel_requirepass', 'redis_instances',
              'backup_redis_password'],
    'rabbitmq': ['rabbitmq_erlang_cookie', 'rabbitmq_admin_password', 'rabbitmq_app_password', 'rabbitmq_monitoring_password',
                 'rabbitmq_app_user', 'rabbitmq_app_vhost', 'rabbitmq_app_queue_name', 'backup_redis_instances'],
    'proxy': ['proxy_server_names', 'proxy_tls_source', 'proxy_upstreams'],
    'app': ['app_image', 'app_image_tag', 'app_colour_ports', 'app_endpoints_redis', 'app_endpoints_redis_password',
            'app_endpoints_rabbitmq', 'app_redis_host', 'app_redis_port', 'app_redis_username', 'app_redis_password',
            'app_rabbitmq_url', 'app_jwt_secret', 'app_encryption_key', 'app_session_secret', 'app_webhook_secret',
            'app_encryption_salt', 'app_hash_salt'],
    'firewall': ['firewall_admin_allowlist'],
    'backup': ['backup_repository', 'backup_repository_password', 'backup_repository_env', 'backup_secret_store'],
    'monitoring': ['monitoring_scrape_jobs', 'monitoring_redis_exporter_enabled', 'monitoring_redis_exporter_user',
                   'monitoring_redis_exporter_password', 'monitoring_alertmanager_secrets', 'monitoring_alertmanager_smtp',
                   'monitoring_alertmanager_receivers', 'monitoring_external_labels', 'monitoring_retention_time'],
    'all': ['rotation_store', 'rotation_store_encrypt', 'rotation_policies', 'operations_lock_path'],
}
VAULT_REFERENCE = re.compile(r'\bvault_[a-z0-9_]+\b')


class _UnsafeLoader(yaml.SafeLoader):
    """Reads the !unsafe tag of the vault example as a plain string."""


_UnsafeLoader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def _env():
    env = dict(os.environ)
    env.update({
        'PATH': os.pathsep.join([BIN, env.get('PATH', '')]),
        'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.collections'),
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
    })
    return env


def _certificate(directory):
    """A self-signed certificate and its key, valid for a year (the production proxy's placeholders)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'connect.example.com')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(u'connect.example.com')]), critical=False)
            .sign(key, hashes.SHA256()))
    pem_cert = cert.public_bytes(serialization.Encoding.PEM).decode()
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return pem_cert, pem_key


def _placeholder(name, pem):
    if name.endswith('_certificate') or name.endswith('_chain'):
        return pem[0]
    if name.endswith('_private_key'):
        return pem[1]
    # Letters and digits only (the Erlang cookie's alphabet), long enough for every rule; a
    # "{{" in it would prove the values are not templated, but the cookie refuses it.
    return ('Placeholder' + re.sub('[^A-Za-z0-9]', '', name) * 3)[:40]


def inventory_copy(tmp_path, environment, edit=None):
    """A copy of inventories/ENVIRONMENT with an encrypted vault.yml of placeholders; returns (path, vault id)."""
    path = tmp_path / environment
    shutil.copytree(os.path.join(ROOT, 'inventories', environment), str(path))
    example = path / 'group_vars' / 'all' / 'vault.yml.example'
    names = sorted((yaml.load(example.read_text(), Loader=_UnsafeLoader) or {}).keys())
    pem = _certificate(tmp_path)
    vault = path / 'group_vars' / 'all' / 'vault.yml'
    # Written as an operator would: each value !unsafe.
    vault.write_text('---\n' + ''.join(
        '%s: !unsafe %s\n' % (name, json.dumps(_placeholder(name, pem))) for name in names))
    password = tmp_path / ('%s.vault-pass' % environment)
    password.write_text('not-a-real-vault-password\n')
    os.chmod(str(password), stat.S_IRUSR | stat.S_IWUSR)
    vault_id = '%s@%s' % (environment, password)
    subprocess.run([os.path.join(BIN, 'ansible-vault'), 'encrypt', '--vault-id', vault_id, str(vault)],
                   check=True, env=_env(), capture_output=True)
    if edit:
        edit(path)
    return path, vault_id


def fake_bin(tmp_path):
    """getent and apt-cache as the RabbitMQ nodes would answer them (the controller cannot resolve the sample names)."""
    directory = tmp_path / 'fake-bin'
    directory.mkdir(exist_ok=True)
    for name, body in (('getent', 'echo "192.0.2.10 $3"'),
                       ('apt-cache', 'printf "rabbitmq-server:\\n  Installed: (none)\\n  Candidate: 3.10.8-1.1\\n"')):
        script = directory / name
        script.write_text('#!/bin/sh\n%s\n' % body)
        os.chmod(str(script), 0o755)
    return directory


def run_preflight(tmp_path, path, vault_id):
    env = _env()
    env['PATH'] = os.pathsep.join([str(fake_bin(tmp_path)), env['PATH']])
    extra = {'ansible_connection': 'local', 'ansible_become': False,
             'ansible_python_interpreter': sys.executable}
    return subprocess.run(
        [os.path.join(BIN, 'ansible-playbook'), '-i', str(path), '--vault-id', vault_id,
         '-e', json.dumps(extra), os.path.join(HERE, 'preflight.yml')],
        env=env, capture_output=True, text=True, cwd=ROOT, check=False)


def _tail(result, lines=60):
    return '\n'.join((result.stdout + result.stderr).splitlines()[-lines:])


@pytest.mark.parametrize('environment', ENVIRONMENTS)
def test_vault_example_names_every_vault_variable_the_inventory_reads(environment):
    base = os.path.join(ROOT, 'inventories', environment)
    referenced = set()
    for directory, _dirs, files in os.walk(base):
        for name in files:
            if name.endswith('.yml'):
                with open(os.path.join(directory, name)) as handle:
                    referenced.update(VAULT_REFERENCE.findall(handle.read()))
    with open(os.path.join(base, 'group_vars', 'all', 'vault.yml.example')) as handle:
        text = handle.read()
    example = set((yaml.load(text, Loader=_UnsafeLoader) or {}).keys())
    assert referenced == example, 'read but not in the example: %s; in the example but unused: %s' % (
        sorted(referenced - example), sorted(example - referenced))
    # Every vault value is marked !unsafe and to be replaced.
    for line in text.splitlines():
        if line.startswith('vault_'):
            assert ': !unsafe ' in line and '# REPLACE' in line, line


def _members(listed, group):
    """Every host of ``group`` in ``ansible-inventory --list`` output, through its child groups too."""
    entry = listed.get(group, {})
    hosts = list(entry.get('hosts', []))
    for child in entry.get('children', []):
        hosts.extend(h for h in _members(listed, child) if h not in hosts)
    return hosts


@pytest.mark.parametrize('environment', ENVIRONMENTS)
def test_inventory_lists_every_group_and_its_wiring(tmp_path, environment):
    path, vault_id = inventory_copy(tmp_path, environment)
    result = subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i', str(path), '--vault-id', vault_id, '--list'],
                            env=_env(), capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, _tail(result)
    listed = json.loads(result.stdout)
    hostvars = listed['_meta']['hostvars']
    missing = []
    for group, names in WIRING.items():
        hosts = listed['all']['children'] if group == 'all' else _members(listed, group)
        assert hosts, 'group %s is empty' % group
        for host in (hostvars if group == 'all' else hosts):
            missing.extend('%s: %s' % (host, name) for name in names if name not in hostvars[host])
    assert not missing, 'wiring variables missing: %s' % ', '.join(missing)
    # The vault decrypted: a placeholder reached the variables that read it.
    app_host = listed['app']['hosts'][0]
    value = hostvars[app_host]['vault_rabbitmq_monitoring_password']
    # ansible-inventory shows an !unsafe value as {"__ansible_unsafe": value}.
    value = value.get('__ansible_unsafe', value) if isinstance(value, dict) else value
    assert value.startswith('Placeholder'), value


@pytest.mark.parametrize('environment', ENVIRONMENTS)
def test_validate_play_and_every_role_preflight_pass(tmp_path, environment):
    path, vault_id = inventory_copy(tmp_path, environment)
    result = run_preflight(tmp_path, path, vault_id)
    assert result.returncode == 0, _tail(result)
    # Every role's preflight ran, for every host of its group (no play was skipped for lack of hosts).
    recap = result.stdout[result.stdout.index('PLAY RECAP'):]
    assert 'failed=0' in recap and 'unreachable=0' in recap
    for play in ('Preflight of common', 'Preflight of redis', 'Preflight of rabbitmq', 'Preflight of proxy',
                 'Preflight of app_endpoints and app', 'Preflight of firewall', 'Preflight of monitoring',
                 'Preflight of backup'):
        assert 'PLAY [%s]' % play in result.stdout
    assert 'skipping: no hosts matched' not in result.stdout
    # The rotation store was made in the copy, encrypted, and holds no secret in clear.
    store = path / 'rotation.vault.yml'
    assert store.read_text().startswith('$ANSIBLE_VAULT;')


def _replace_line(relative, pattern, replacement):
    def edit(path):
        target = path / relative
        lines = target.read_text().splitlines(True)
        edited = [re.sub(pattern, replacement, line) if re.match(pattern, line) else line for line in lines]
        assert sum(1 for line in lines if re.match(pattern, line)) == 1, 'the edit must change exactly one line'
        target.write_text(''.join(line for line in edited if line))
    return edit


@pytest.mark.parametrize('relative, pattern, replacement, named', [
    # A required wiring variable gone: the app role's preflight names it.
    ('group_vars/app/main.yml', r'^app_redis_host:.*\n', '', 'app_redis_host'),
    # The HAProxy health checks' password gone: the app_endpoints preflight names it.
    ('group_vars/app/main.yml', r'^app_endpoints_redis_password:.*\n', '', 'app_endpoints_redis_password'),
    # A wiring that drifted: the app asks for a Redis port no local endpoint listens on.
    ('group_vars/app/main.yml', r'^app_redis_port:.*', 'app_redis_port: 6390', 'app_redis_port'),
    # The app listens on a queue the rabbitmq group does not declare.
    ('group_vars/app/main.yml', r'^app_rabbitmq_queue_name:.*', 'app_rabbitmq_queue_name: flash_events', 'app_rabbitmq_queue_name'),
    # Default-user mode, yet the app names a user.
    ('group_vars/app/main.yml', r'^app_redis_username:.*', 'app_redis_username: flash-app', 'app_redis_username'),
    # A backup repository of a scheme restic is not given here: the backup preflight names it.
    ('group_vars/backup/main.yml', r'^backup_repository:.*', 'backup_repository: ftp://x', 'backup_repository=ftp://x'),
    # A scrape job on a group the inventory does not have: the monitoring preflight names the job.
    ('group_vars/monitoring/main.yml', r'^  - \{name: rabbitmq, groups: \[rabbitmq\],',
     '  - {name: rabbitmq, groups: [nosuchgroup],', 'monitoring_scrape_jobs[rabbitmq]: not in the inventory'),
])
def test_a_broken_sample_inventory_fails_naming_the_variable(tmp_path, relative, pattern, replacement, named):
    path, vault_id = inventory_copy(tmp_path, 'staging', edit=_replace_line(relative, pattern, replacement))
    result = run_preflight(tmp_path, path, vault_id)
    assert result.returncode != 0, _tail(result)
    # The failure report (from the first failed host on) names the variable.
    first = min(result.stdout.find(marker) for marker in ('fatal: [', 'failed: [') if marker in result.stdout)
    assert named in result.stdout[first:], _tail(result)


def test_no_inventory_or_role_builds_a_url_with_credentials_by_hand():
    """Issue 10.9: credentials in URLs are percent-encoded by flash.connect.amqp_url / redis_url;
    a hand-built 'amqp://user:{{ password | urlencode }}@' leaves '/' unencoded (urlencode keeps it)."""
    import glob
    import re
    root = os.path.join(os.path.dirname(__file__), '..', '..', '..')
    offenders = []
    for path in glob.glob(os.path.join(root, 'inventories', '**', '*.yml'), recursive=True) + \
            glob.glob(os.path.join(root, 'roles', '**', '*.yml'), recursive=True) + \
            glob.glob(os.path.join(root, 'roles', '**', '*.j2'), recursive=True) + \
            glob.glob(os.path.join(root, 'playbooks', '**', '*.yml'), recursive=True):
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                # A URL whose user or password part is templated in place ('amqp://{{ user }}:{{ ...').
                if not line.lstrip().startswith('#') and re.search(r'(amqps?|rediss?)://[^\s\'"]*\{\{', line):
                    offenders.append('%s:%d' % (os.path.relpath(path, root), number))
    assert offenders == []
