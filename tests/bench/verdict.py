# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A benchmark's verdict, computed from its figures against stated targets (pure; no I/O).

Every benchmark script states its targets as ``Target`` rows, gets the report's verdict lines from
``verdict()`` and exits with ``exit_code()``: a missed target says "missed" in the report and
makes the script exit non-zero. A figure that was not measured (None) misses its target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import operator

RELATIONS = {
    '<=': (operator.le, 'at most'),
    '<': (operator.lt, 'under'),
    '>=': (operator.ge, 'at least'),
    '>': (operator.gt, 'above'),
    '==': (operator.eq, 'exactly'),
}


class Target(collections.namedtuple('Target', 'name figure relation limit unit')):
    """``figure`` (measured) must stand in ``relation`` to ``limit``; ``unit`` is printed after both."""

    __slots__ = ()

    def __new__(cls, name, figure, relation, limit, unit=''):
        if relation not in RELATIONS:
            raise ValueError('relation must be one of %s, got %r' % (', '.join(RELATIONS), relation))
        return super(Target, cls).__new__(cls, name, figure, relation, limit, unit)


def _number(value, unit):
    text = ('%g' % value) if isinstance(value, float) else str(value)
    return (text + ' ' + unit) if unit else text


def judge(target):
    """(met, markdown line) for one target."""
    compare, words = RELATIONS[target.relation]
    wanted = '%s %s' % (words, _number(target.limit, target.unit))
    if target.figure is None:
        return False, '- %s: not measured (target: %s): **missed**' % (target.name, wanted)
    met = bool(compare(target.figure, target.limit))
    return met, '- %s: %s (target: %s): **%s**' % (
        target.name, _number(target.figure, target.unit), wanted, 'met' if met else 'missed')


def verdict(targets, where='in this run'):
    """{'met': bool, 'word': 'met' | 'missed', 'missed': [names], 'lines': [markdown lines]}."""
    targets = list(targets)
    if not targets:
        raise ValueError('a verdict needs at least one target')
    judged = [judge(target) for target in targets]
    missed = [target.name for target, (met, dummy) in zip(targets, judged) if not met]
    word = 'missed' if missed else 'met'
    if missed:
        head = 'Verdict %s: **missed** - %d of %d targets missed (%s).' % (where, len(missed), len(targets), '; '.join(missed))
    else:
        head = 'Verdict %s: **met** - all %d targets met.' % (where, len(targets))
    return {'met': not missed, 'word': word, 'missed': missed, 'lines': [head, ''] + [line for dummy, line in judged]}


def exit_code(result):
    """0 when every target was met, else 1."""
    return 0 if result['met'] else 1
