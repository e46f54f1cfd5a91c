# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blue/green deploy plan: which colour a release goes to, and how."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.six import string_types

COLOURS = ('blue', 'green')
COLOUR_LABEL = 'io.flash.app.colour'
VERSION_LABEL = 'io.flash.app.version'
CONFIG_LABEL = 'io.flash.app.config'
HOST_LABEL = 'io.flash.app.host'


def _other(colour):
    return COLOURS[1] if colour == COLOURS[0] else COLOURS[0]


def _labels(container):
    if not isinstance(container, dict):
        return {}
    labels = container.get('Labels')
    if labels is None:
        labels = (container.get('Config') or {}).get('Labels')
    return labels if isinstance(labels, dict) else {}


def _image_id(container):
    """The id of the image a container was made from (``ImageID`` in a container listing,
    ``Image`` in an inspect, where it is the id)."""
    if not isinstance(container, dict):
        return ''
    if container.get('ImageID'):
        return container['ImageID']
    image = str(container.get('Image') or '')
    return image if image.startswith('sha256:') else ''


def deploy_plan(live_colours, running=None, release=None, image='', tag='', rollback=False, first_colour='blue',
                force_switch=False, config='', image_ids=None):
    """Decide where a release goes.

    ``live_colours``: the live colour each proxy reports ('' before its first install).
    ``running``: the running app containers of every app host (docker_host_info, verbose).
    ``release``: the release record of the last deploy ({} when none).
    ``image``/``tag``: the release asked for; with ``rollback`` the record's previous one is used.
    ``config``: the configuration digest the app role gives the containers it would start (one
    string, or app host -> digest, matched with the containers' host label);
    a live colour made with another one (a changed variable or secret) is not converged in
    place but replaced through the idle colour.
    ``image_ids``: the image id behind ``image:tag`` on each app host (app host -> id, or one
    id for all): a live container made from another image under the same tag (a rebuilt or
    re-pushed tag) is replaced through the idle colour, never recreated in place. A host with no
    id (the image is not there yet, or not asked) compares nothing.
    ``force_switch``: go through the idle colour even when the live one runs the tag (new
    settings or secrets for the same release, without a failed request).

    Returns a dict: ``mode`` (``first``: nothing runs yet, the live colour gets it;
    ``in-place``: the live colour already runs this tag, it is converged where it is;
    ``switch``: the idle colour gets it, then the proxies switch), ``live``, ``target``,
    ``live_tags``, ``image``, ``tag``, ``previous`` (what runs now, for the record), and
    ``error`` ('' when the plan is sound; the playbook fails with it otherwise).
    """
    if not is_sequence(live_colours) or isinstance(live_colours, string_types):
        raise AnsibleFilterError('deploy_plan: expected the list of the proxies\' live colours')
    release = release if isinstance(release, dict) else {}
    plan = {'mode': '', 'live': '', 'target': '', 'live_tags': [], 'config_changed': False, 'image_changed': False,
            'image': image, 'tag': str(tag),
            'previous': {}, 'rollback': bool(rollback), 'error': ''}

    if first_colour not in COLOURS:
        plan['error'] = 'proxy_active_colour=%s must be one of %s' % (first_colour, ', '.join(COLOURS))
        return plan
    seen = sorted(set(c for c in live_colours if c))
    if len(seen) > 1:
        plan['error'] = 'the proxies disagree on the live colour (%s): switch them to one colour first' % ', '.join(seen)
        return plan
    live = seen[0] if seen else first_colour
    if live not in COLOURS:
        plan['error'] = 'the live colour %s is not one of %s' % (live, ', '.join(COLOURS))
        return plan
    plan['live'] = live

    live_tags, changed, image_changed = set(), False, False
    for container in running or []:
        labels = _labels(container)
        if labels.get(COLOUR_LABEL) == live and labels.get(VERSION_LABEL):
            live_tags.add(labels[VERSION_LABEL])
            wanted = config.get(labels.get(HOST_LABEL), '') if isinstance(config, dict) else config
            changed = changed or (bool(wanted) and labels.get(CONFIG_LABEL, '') != wanted)
            wanted_id = (image_ids or {}).get(labels.get(HOST_LABEL), '') if isinstance(image_ids, dict) else (image_ids or '')
            live_id = _image_id(container)
            image_changed = image_changed or (bool(wanted_id) and bool(live_id) and live_id != wanted_id)
    plan['live_tags'] = sorted(live_tags)
    plan['config_changed'] = changed
    plan['image_changed'] = image_changed

    if rollback:
        previous = release.get('previous') or {}
        if not previous.get('tag') or not previous.get('image'):
            plan['error'] = 'rollback: the release record names no previous release to go back to'
            return plan
        plan['image'], plan['tag'] = previous['image'], str(previous['tag'])
    if not plan['image'] or not plan['tag']:
        plan['error'] = 'app_image and app_image_tag must name the release to deploy'
        return plan

    live_image = release.get('image') if release.get('colour') == live else None
    if not live_tags:
        plan.update(mode='first', target=live, previous=release.get('previous') or {})
    elif (live_tags == set([plan['tag']]) and live_image in (None, plan['image'])
          and not force_switch and not plan['config_changed'] and not plan['image_changed']):
        plan.update(mode='in-place', target=live, previous=release.get('previous') or {})
    else:
        plan.update(mode='switch', target=_other(live),
                    previous={'colour': live, 'image': live_image or plan['image'],
                              'tag': ','.join(sorted(live_tags))})
    return plan


class FilterModule(object):
    def filters(self):
        return {'deploy_plan': deploy_plan}
