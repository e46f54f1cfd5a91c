# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.flash.connect.plugins.filter.deploy import FilterModule, deploy_plan

IMAGE = 'flashapp/flash-connect'


def container(colour, version, verbose=True, config='c1', host='h1'):
    labels = {'io.flash.app': host, 'io.flash.app.colour': colour, 'io.flash.app.version': version,
              'io.flash.app.config': config, 'io.flash.app.host': host}
    return {'Labels': labels} if verbose else {'Config': {'Labels': labels}}


def test_registered():
    assert FilterModule().filters()['deploy_plan'] is deploy_plan


def test_first_deploy_goes_to_the_proxy_colour():
    plan = deploy_plan([''], running=[], release={}, image=IMAGE, tag='1.0.0', first_colour='green')
    assert (plan['mode'], plan['live'], plan['target'], plan['error']) == ('first', 'green', 'green', '')


def test_same_tag_is_converged_in_place():
    plan = deploy_plan(['blue'], running=[container('blue', '1.0.0')],
                       release={'colour': 'blue', 'image': IMAGE, 'tag': '1.0.0'}, image=IMAGE, tag='1.0.0')
    assert (plan['mode'], plan['target'], plan['live_tags']) == ('in-place', 'blue', ['1.0.0'])


def test_same_tag_and_config_is_in_place():
    plan = deploy_plan(['blue'], running=[container('blue', '1.0.0', config='c1')], image=IMAGE, tag='1.0.0', config='c1')
    assert plan['mode'] == 'in-place' and not plan['config_changed']


def test_changed_config_goes_through_the_idle_colour():
    plan = deploy_plan(['blue'], running=[container('blue', '1.0.0', config='c1'), container('blue', '1.0.0', config='c2')],
                       image=IMAGE, tag='1.0.0', config='c2')
    assert (plan['mode'], plan['target'], plan['config_changed']) == ('switch', 'green', True)
    assert plan['previous']['tag'] == '1.0.0'


def test_config_is_compared_per_host():
    running = [container('blue', '1.0.0', config='a1', host='h1'), container('blue', '1.0.0', config='b1', host='h2')]
    same = deploy_plan(['blue'], running=running, image=IMAGE, tag='1.0.0', config={'h1': 'a1', 'h2': 'b1'})
    assert same['mode'] == 'in-place'
    changed = deploy_plan(['blue'], running=running, image=IMAGE, tag='1.0.0', config={'h1': 'a1', 'h2': 'b2'})
    assert changed['mode'] == 'switch' and changed['config_changed']


def test_force_switch_rolls_the_same_tag_through_the_idle_colour():
    plan = deploy_plan(['blue'], running=[container('blue', '1.0.0')],
                       release={'colour': 'blue', 'image': IMAGE, 'tag': '1.0.0'}, image=IMAGE, tag='1.0.0',
                       force_switch=True)
    assert (plan['mode'], plan['target']) == ('switch', 'green')
    assert plan['previous'] == {'colour': 'blue', 'image': IMAGE, 'tag': '1.0.0'}


def test_new_tag_goes_to_the_idle_colour_and_remembers_the_live_one():
    plan = deploy_plan(['green', 'green'], running=[container('green', '1.0.0'), container('blue', '0.9.0')],
                       release={'colour': 'green', 'image': IMAGE, 'tag': '1.0.0'}, image=IMAGE, tag='1.1.0')
    assert (plan['mode'], plan['live'], plan['target']) == ('switch', 'green', 'blue')
    assert plan['previous'] == {'colour': 'green', 'image': IMAGE, 'tag': '1.0.0'}
    assert plan['live_tags'] == ['1.0.0']


def test_new_image_with_the_same_tag_is_a_switch():
    plan = deploy_plan(['blue'], running=[container('blue', '1.0.0', verbose=False)],
                       release={'colour': 'blue', 'image': 'old/image', 'tag': '1.0.0'}, image=IMAGE, tag='1.0.0')
    assert plan['mode'] == 'switch' and plan['target'] == 'green'


def test_idle_colour_containers_do_not_count_as_live():
    plan = deploy_plan(['blue'], running=[container('green', '1.1.0')], release={}, image=IMAGE, tag='1.1.0')
    assert plan['mode'] == 'first' and plan['target'] == 'blue'


def test_rollback_takes_the_previous_release():
    release = {'colour': 'green', 'image': IMAGE, 'tag': '1.1.0',
               'previous': {'colour': 'blue', 'image': IMAGE, 'tag': '1.0.0'}}
    plan = deploy_plan(['green'], running=[container('green', '1.1.0')], release=release,
                       image=IMAGE, tag='1.1.0', rollback=True)
    assert (plan['mode'], plan['target'], plan['tag'], plan['image']) == ('switch', 'blue', '1.0.0', IMAGE)
    assert plan['previous']['tag'] == '1.1.0'


@pytest.mark.parametrize('kwargs, message', [
    ({'rollback': True, 'release': {'colour': 'blue', 'tag': '1.0.0'}}, 'no previous release'),
    ({'tag': ''}, 'app_image_tag'),
    ({'first_colour': 'purple'}, 'proxy_active_colour=purple'),
])
def test_errors_name_the_cause(kwargs, message):
    args = {'running': [], 'release': {}, 'image': IMAGE, 'tag': '1.0.0'}
    args.update(kwargs)
    plan = deploy_plan([''], **args)
    assert message in plan['error']


def test_proxies_that_disagree_are_an_error():
    plan = deploy_plan(['blue', 'green'], running=[], image=IMAGE, tag='1.0.0')
    assert 'disagree' in plan['error'] and plan['mode'] == ''


def test_input_must_be_a_list():
    with pytest.raises(AnsibleFilterError):
        deploy_plan('blue')


# --- same tag, new image (issue 14.6) ----------------------------------------------------------

def with_image(entry, image_id):
    entry['ImageID'] = image_id
    return entry


def test_same_tag_with_a_new_image_id_goes_blue_green():
    running = [with_image(container('blue', '1.0.0', host='h1'), 'sha256:old'),
               with_image(container('blue', '1.0.0', host='h2'), 'sha256:old')]
    plan = deploy_plan(['blue'], running=running, release={'colour': 'blue', 'image': IMAGE, 'tag': '1.0.0'},
                       image=IMAGE, tag='1.0.0', config='c1', image_ids={'h1': 'sha256:new', 'h2': 'sha256:new'})
    assert (plan['mode'], plan['target'], plan['image_changed']) == ('switch', 'green', True)
    assert plan['previous'] == {'colour': 'blue', 'image': IMAGE, 'tag': '1.0.0'}


def test_same_tag_same_image_id_stays_in_place():
    running = [with_image(container('blue', '1.0.0'), 'sha256:same')]
    plan = deploy_plan(['blue'], running=running, image=IMAGE, tag='1.0.0', config='c1', image_ids='sha256:same')
    assert (plan['mode'], plan['image_changed']) == ('in-place', False)


def test_one_host_with_the_rebuilt_image_is_enough_to_switch():
    running = [with_image(container('blue', '1.0.0', host='h1'), 'sha256:same'),
               with_image(container('blue', '1.0.0', host='h2'), 'sha256:old')]
    plan = deploy_plan(['blue'], running=running, image=IMAGE, tag='1.0.0', config='c1',
                       image_ids={'h1': 'sha256:same', 'h2': 'sha256:new'})
    assert plan['mode'] == 'switch'


def test_the_image_id_of_an_inspect_counts_too():
    entry = container('blue', '1.0.0', verbose=False)
    entry['Image'] = 'sha256:old'
    plan = deploy_plan(['blue'], running=[entry], image=IMAGE, tag='1.0.0', image_ids='sha256:new')
    assert plan['mode'] == 'switch'


@pytest.mark.parametrize('image_ids', [None, '', {}, {'other-host': 'sha256:new'}])
def test_no_id_for_the_host_compares_nothing(image_ids):
    running = [with_image(container('blue', '1.0.0'), 'sha256:old')]
    plan = deploy_plan(['blue'], running=running, image=IMAGE, tag='1.0.0', config='c1', image_ids=image_ids)
    assert plan['mode'] == 'in-place'


def test_the_idle_colour_image_does_not_count():
    running = [with_image(container('blue', '1.0.0'), 'sha256:new'), with_image(container('green', '0.9.0'), 'sha256:old')]
    plan = deploy_plan(['blue'], running=running, image=IMAGE, tag='1.0.0', config='c1', image_ids='sha256:new')
    assert plan['mode'] == 'in-place'
