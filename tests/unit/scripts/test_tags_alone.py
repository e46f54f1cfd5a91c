# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's tags check reads the concern tags and the foundation tasks from ansible-playbook's
listings, and every role README lists the concern tags its tasks/main.yml uses."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import yaml

from ansible_collections.flash.connect.tests.lab import tags_alone

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

LIST_TAGS = """
playbook: playbooks/app.yml

  play #1 (app): App endpoints (HAProxy to the Redis master and the live RabbitMQ nodes)\tTAGS: []
      TASK TAGS: [always, app_endpoints, configure, install, preflight, service]

  play #2 (app:proxy): Check the release and the inventory before any change\tTAGS: []
      TASK TAGS: []
"""

LIST_TASKS = """
  play #1 (redis): Redis with replication and Sentinel\tTAGS: []
    tasks:
      flash.connect.redis : Validating arguments against arg spec 'main'\tTAGS: [always]
      flash.connect.redis : Check the group holds the hosts\tTAGS: [always, preflight, redis]
      flash.connect.redis : Ask the local Sentinel which master it follows\tTAGS: [discover, redis]
      flash.connect.redis : Start Sentinel\tTAGS: [redis, sentinel]
"""


# `--list-tags --list-tasks` together (one run per playbook): the play's TASK TAGS line comes
# with the tasks and must be read as tags, never as a task.
LIST_BOTH = """
  play #1 (redis): Redis with replication and Sentinel\tTAGS: []
    tasks:
      flash.connect.redis : Check the group holds the hosts\tTAGS: [always, preflight, redis]
      flash.connect.redis : Ask the local Sentinel which master it follows\tTAGS: [discover, redis]
      TASK TAGS: [discover, preflight, redis]
"""


def _role_mains():
    """(role, the task list of its tasks/main.yml) for every role that has one."""
    for role in sorted(os.listdir(os.path.join(ROOT, 'roles'))):
        main = os.path.join(ROOT, 'roles', role, 'tasks', 'main.yml')
        if os.path.exists(main):
            with open(main) as handle:
                yield role, yaml.safe_load(handle) or []


def test_concern_tags_leave_out_always_and_the_role_names():
    assert tags_alone.concern_tags(LIST_TAGS) == ['configure', 'install', 'preflight', 'service']


def test_a_discovery_task_without_always_is_named():
    assert tags_alone.foundation_not_always(LIST_TASKS) == ['flash.connect.redis : Ask the local Sentinel which master it follows']


def test_one_listing_gives_the_tags_and_the_tasks():
    assert tags_alone.concern_tags(LIST_BOTH) == ['discover', 'preflight']
    assert tags_alone.foundation_not_always(LIST_BOTH) == ['flash.connect.redis : Ask the local Sentinel which master it follows']


def test_every_role_readme_lists_its_concern_tags():
    missing = []
    for role, tasks in _role_mains():
        tags = set()
        for task in tasks:
            value = task.get('tags', [])
            tags |= set([value] if isinstance(value, str) else value)
        with open(os.path.join(ROOT, 'roles', role, 'README.md')) as handle:
            readme = handle.read()
        listed = set(re.findall(r'`([a-z_]+)`', readme))
        missing += ['%s: `%s`' % (role, tag) for tag in sorted(tags - tags_alone.ROLE_TAGS - {'preflight'} - listed)]
    assert missing == [], 'role READMEs that do not list a concern tag: %s' % ', '.join(missing)


def test_a_tagged_dynamic_include_applies_its_tags_inside():
    """include_tasks/include_role with tags but no `apply`: `--tags` runs the include, skips its tasks."""
    wrong = []
    for role, tasks in _role_mains():
        for task in tasks:
            for key in ('ansible.builtin.include_tasks', 'ansible.builtin.include_role', 'include_tasks', 'include_role'):
                if key in task and task.get('tags') and not (isinstance(task[key], dict) and task[key].get('apply', {}).get('tags')):
                    wrong.append('%s: %s' % (role, task.get('name')))
    assert wrong == []
