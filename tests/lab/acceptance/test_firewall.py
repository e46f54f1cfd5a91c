# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's firewall (issue 13), proven by probes (tests/lab/firewall_probe.py)."""
import json

import firewall_probe  # tests/lab/firewall_probe.py (tests/lab is on sys.path: the package's parent)


def test_firewall(ep, figures):
    """(issue 13) every lab host holds the collection's table with input policy drop, and probes
    from every host and this machine find each port reachable exactly as the policy says."""
    held = firewall_probe.tables(ep)
    figures['hosts'] = len(held)
    assert all(t.get('input_policy') == 'drop' and t.get('rules', 0) > 0 for t in held.values()), \
        'a host lacks table inet flash with input policy drop: %s' % json.dumps(held)
    matrix, problems = firewall_probe.check_matrix(ep)
    figures.update(matrix)
    assert not problems, '%d probes differ from the policy: %s' % (len(problems), '; '.join(problems[:20]))
