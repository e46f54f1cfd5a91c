# -*- coding: utf-8 -*-
# Copyright (c) 2025, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure logic of secret_rotate: durations, policies, store format, due and overlap computation."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest

from ansible_collections.flash.connect.plugins.plugin_utils import _secret_rotate as logic

UTC = datetime.timezone.utc


def at(text):
    return logic.parse_time(text, 'now')


@pytest.mark.parametrize('value, seconds', [
    ('90d', 90 * 86400), ('12h', 43200), ('30m', 1800), ('45s', 45), ('2w', 14 * 86400),
    ('1d12h', 129600), (' 3600 ', 3600), (3600, 3600), (0, 0), ('0s', 0), (7200.0, 7200), ('1D', 86400),
])
def test_parse_duration(value, seconds):
    assert logic.parse_duration(value, 'f') == seconds


@pytest.mark.parametrize('value', ['', 'soon', '1 day', '1y', '-5', 'd', '1.5h', True, None, [1], 1.5])
def test_parse_duration_rejects_naming_the_field(value):
    with pytest.raises(logic.SecretRotateError, match=r'^secrets\.x\.period: '):
        logic.parse_duration(value, 'secrets.x.period')


@pytest.mark.parametrize('text, expected', [
    ('2025-01-31T12:00:00Z', datetime.datetime(2025, 1, 31, 12, tzinfo=UTC)),
    ('2025-01-31T12:00:00.999+00:00', datetime.datetime(2025, 1, 31, 12, tzinfo=UTC)),
    ('2025-01-31T14:00:00+02:00', datetime.datetime(2025, 1, 31, 12, tzinfo=UTC)),
    ('2025-01-31T12:00:00', datetime.datetime(2025, 1, 31, 12, tzinfo=UTC)),
    ('2025-01-31', datetime.datetime(2025, 1, 31, tzinfo=UTC)),
])
def test_parse_time_is_utc_whole_seconds(text, expected):
    assert logic.parse_time(text, 'now') == expected
    assert logic.format_time(logic.parse_time(text, 'now')) == expected.strftime('%Y-%m-%dT%H:%M:%SZ')


@pytest.mark.parametrize('alphabet, size', [('alnum', 62), ('hex', 16), ('urlsafe', 64), ('ascii', 90)])
def test_alphabet_sizes_and_content(alphabet, size):
    chars = logic.ALPHABETS[alphabet]
    assert len(chars) == len(set(chars)) == size
    assert not set(chars) & set(' \'"`\\\t\n')


@pytest.mark.parametrize('policy, bits', [
    ({'length': 24}, 24 * 5.954),          # alnum: 142.9 bits
    ({'length': 32, 'alphabet': 'hex'}, 128.0),
    ({'length': 24, 'alphabet': 'urlsafe'}, 144.0),
])
def test_entropy_bits(policy, bits):
    assert logic.validate_policies({'x': policy})['x'].bits == pytest.approx(bits, abs=0.01)


def test_policy_defaults():
    policy = logic.validate_policies({'x': None})['x']
    assert (policy.length, policy.alphabet, policy.period, policy.overlap) == (32, 'alnum', 90 * 86400, 86400)


@pytest.mark.parametrize('policy, field', [
    ({'length': 23}, 'secrets.x.length'),
    ({'length': True}, 'secrets.x.length'),
    ({'length': 5000}, 'secrets.x.length'),
    ({'length': 31, 'alphabet': 'hex'}, 'secrets.x: 31 characters of hex give 124.0 bits'),
    ({'alphabet': 'base64'}, 'secrets.x.alphabet'),
    ({'period': '-1'}, 'secrets.x.period'),
    ({'period': 0, 'overlap': 0}, 'secrets.x.period'),
    ({'period': '1h', 'overlap': '61m'}, 'secrets.x.overlap'),
    ({'overlap': -1}, 'secrets.x.overlap'),
    ({'rotate': True}, 'secrets.x.rotate'),
    (['length', 30], 'secrets.x'),
])
def test_policy_errors_name_the_field(policy, field):
    with pytest.raises(logic.SecretRotateError) as caught:
        logic.validate_policies({'x': policy})
    assert str(caught.value).startswith(field)


@pytest.mark.parametrize('name', ['', 'has space', '-lead', 'x/y', 5])
def test_secret_names_are_checked(name):
    with pytest.raises(logic.SecretRotateError, match=r'^secrets: invalid secret name'):
        logic.validate_policies({name: {}})


def test_names_and_force():
    policies = logic.validate_policies({'a': {}, 'b': {}, 'c': {}})
    assert logic.select_names(None, policies) == ['a', 'b', 'c']
    assert logic.select_names(['c', 'a', 'c'], policies) == ['a', 'c']
    assert logic.select_names('b, a', policies) == ['a', 'b']
    assert logic.parse_force(False, policies, ['a', 'b']) == set()
    assert logic.parse_force(True, policies, ['a', 'b']) == {'a', 'b'}
    assert logic.parse_force('yes', policies, ['a']) == {'a'}
    assert logic.parse_force('no', policies, ['a']) == set()
    assert logic.parse_force(['b'], policies, ['a', 'b']) == {'b'}
    assert logic.parse_force('a,b', policies, ['a', 'b']) == {'a', 'b'}
    with pytest.raises(logic.SecretRotateError, match=r"^force: 'z' is not a secret"):
        logic.parse_force(['z'], policies, ['a'])
    with pytest.raises(logic.SecretRotateError, match=r"^names: 'z' is not a secret"):
        logic.select_names(['a', 'z'], policies)


def test_rotate_reason_and_describe_windows():
    policy = logic.validate_policies({'x': {'period': '10d', 'overlap': '1d'}})['x']
    store = logic.empty_store()
    assert logic.rotate_reason([], policy, False, at('2025-01-01')) == 'new'
    logic.add_version(store, 'x', 'value-one', at('2025-01-01'))
    versions = logic.versions_of(store, 'x')
    assert logic.rotate_reason(versions, policy, False, at('2025-01-10T23:59:59Z')) is None
    assert logic.rotate_reason(versions, policy, True, at('2025-01-02')) == 'forced'
    assert logic.rotate_reason(versions, policy, False, at('2025-01-11')) == 'due'
    assert logic.rotate_reason(versions, policy, False, at('2024-12-01')) is None  # clock behind the store

    logic.add_version(store, 'x', 'value-two', at('2025-01-11'))
    versions = logic.versions_of(store, 'x')
    report = logic.describe(versions, policy, at('2025-01-11T23:59:59Z'))
    assert report == {
        'version': 2, 'created': '2025-01-11T00:00:00Z', 'due': '2025-01-21T00:00:00Z',
        'current': 'value-two', 'previous': 'value-one', 'previous_version': 1,
        'previous_valid_until': '2025-01-12T00:00:00Z',
    }
    expired = logic.describe(versions, policy, at('2025-01-12'))
    assert (expired['previous'], expired['previous_version'], expired['previous_valid_until']) == (None, None, None)

    logic.add_version(store, 'x', 'value-three', at('2025-01-21'))
    assert [v['value'] for v in store['secrets']['x']['versions']] == ['value-three', 'value-two']


def test_zero_overlap_never_returns_previous():
    policy = logic.validate_policies({'x': {'period': '1h', 'overlap': 0}})['x']
    store = logic.empty_store()
    logic.add_version(store, 'x', 'one', at('2025-01-01T00:00:00Z'))
    logic.add_version(store, 'x', 'two', at('2025-01-01T01:00:00Z'))
    assert logic.describe(logic.versions_of(store, 'x'), policy, at('2025-01-01T01:00:00Z'))['previous'] is None


def test_store_round_trip_with_awkward_values():
    store = logic.empty_store()
    awkward = ['#:{}[]&*!|>%@,?-', '0123456789' * 3, 'yes', 'null', '2025-01-01T00:00:00Z', '~']
    for index, value in enumerate(awkward):
        logic.add_version(store, 's%d' % index, value, at('2025-01-01'))
    text = logic.dump_store(store)
    loaded = logic.load_store(text, 'store')
    for index, value in enumerate(awkward):
        version = loaded['secrets']['s%d' % index]['versions'][0]
        assert version == {'version': 1, 'value': value, 'created': '2025-01-01T00:00:00Z'}


def test_version_lines_never_contain_values():
    store = logic.empty_store()
    logic.add_version(store, 'b', 'value-b1', at('2025-01-01'))
    logic.add_version(store, 'b', 'value-b2', at('2025-02-01'))
    logic.add_version(store, 'a', 'value-a1', at('2025-01-05'))
    assert logic.version_lines(store) == (
        'a: version 1 created 2025-01-05T00:00:00Z\n'
        'b: version 2 created 2025-02-01T00:00:00Z\n'
        'b: version 1 created 2025-01-01T00:00:00Z\n'
    )


@pytest.mark.parametrize('text, message', [
    ('', 'the store is empty'),
    ('[1, 2]', 'not a secret_rotate store'),
    ('format: 2\nsecrets: {}\n', 'not a secret_rotate store'),
    ('format: 1\nsecrets: [a]\n', 'secrets must be a mapping'),
    ('format: 1\nsecrets: {a: {}}\n', 'secrets.a must be a mapping with a versions list'),
    ('format: 1\nsecrets: {a: {versions: [{version: 0, value: hidden-value-1, created: 2025-01-01}]}}\n',
     r'secrets.a.versions\[0\].version must be a positive integer'),
    ('format: 1\nsecrets: {a: {versions: [{version: 1, value: 5, created: 2025-01-01}]}}\n',
     r'secrets.a.versions\[0\].value must be a non-empty string'),
    ('format: 1\nsecrets: {a: {versions: [{version: 1, value: hidden-value-1, created: someday}]}}\n',
     r'secrets.a.versions\[0\].created'),
    ('format: 1\nsecrets: {a: {versions: [{version: 1, value: hidden-value-1, created: 2025-01-01},'
     ' {version: 1, value: hidden-value-2, created: 2025-01-01}]}}\n', 'appears twice'),
    ('format: 1\nsecrets: {a: {versions: [{version: 1, value: "hidden-value-1}]}}\n', 'not valid YAML at line'),
])
def test_bad_store_errors_never_show_values(text, message):
    with pytest.raises(logic.SecretRotateError, match=message) as caught:
        logic.load_store(text, '/srv/store.yml')
    assert str(caught.value).startswith('/srv/store.yml: ')
    assert 'hidden-value' not in str(caught.value)


def test_generate_uses_the_given_choice_function():
    policy = logic.validate_policies({'x': {'length': 24, 'alphabet': 'alnum'}})['x']
    seen = []

    def choice(alphabet):
        seen.append(alphabet)
        return alphabet[0]

    assert logic.generate(policy, choice) == 'a' * 24
    assert seen == [logic.ALPHABETS['alnum']] * 24


# ---- the recorded overlap and the window the lookup uses ------------------------------------------

def test_add_version_records_the_overlap_and_previous_in_window_uses_it():
    store = logic.empty_store()
    logic.add_version(store, 'x', 'value-one', at('2025-01-01T00:00:00Z'), 3600)
    assert logic.stored_overlap(store, 'x') == 3600
    assert logic.previous_in_window(logic.versions_of(store, 'x'), 3600, at('2025-01-01T00:00:00Z')) == (None, None)
    logic.add_version(store, 'x', 'value-two', at('2025-02-01T00:00:00Z'), 7200)
    versions = logic.versions_of(store, 'x')
    assert logic.stored_overlap(store, 'x') == 7200
    previous, until = logic.previous_in_window(versions, 7200, at('2025-02-01T01:59:59Z'))
    assert previous['value'] == 'value-one' and logic.format_time(until) == '2025-02-01T02:00:00Z'
    assert logic.previous_in_window(versions, 7200, at('2025-02-01T02:00:00Z')) == (None, None)
    assert logic.previous_in_window(versions, 0, at('2025-02-01T00:00:00Z')) == (None, None)


def test_stored_overlap_is_0_when_none_is_recorded():
    store = logic.empty_store()
    logic.add_version(store, 'x', 'value-one', at('2025-01-01T00:00:00Z'))
    assert 'overlap' not in store['secrets']['x']
    assert logic.stored_overlap(store, 'x') == 0
    assert logic.stored_overlap(store, 'unknown') == 0


@pytest.mark.parametrize('overlap', [-1, 'long', True, 1.5])
def test_load_store_rejects_a_bad_recorded_overlap(overlap):
    text = logic.dump_store({'format': 1, 'secrets': {'x': {'overlap': overlap, 'versions': [
        {'version': 1, 'value': 'v', 'created': '2025-01-01T00:00:00Z'}]}}})
    with pytest.raises(logic.SecretRotateError, match=r'secrets\.x\.overlap'):
        logic.load_store(text, 'store')


def test_load_store_accepts_a_recorded_overlap():
    text = logic.dump_store({'format': 1, 'secrets': {'x': {'overlap': 0, 'versions': [
        {'version': 1, 'value': 'v', 'created': '2025-01-01T00:00:00Z'}]}}})
    assert logic.load_store(text, 'store')['secrets']['x']['overlap'] == 0
