# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app's acceptance in the running lab (issue 6), as pytest tests: conftest.py (the shared
fixtures, the order, the figures), helpers.py (the client and the lab's state), test_*.py.

tests/bench/deploy_bench.py imports this package as `acceptance` (tests/lab on sys.path) for the
client and the image helpers: those names resolve in helpers.py, imported only when asked for, so
that pytest can rewrite the asserts of helpers.py before it is first imported.
"""


import importlib


def __getattr__(name):
    if name == 'helpers':  # the submodule itself, while it is being imported
        raise AttributeError(name)
    helpers = importlib.import_module(__name__ + '.helpers')
    try:
        return getattr(helpers, name)
    except AttributeError:
        raise AttributeError('module %r has no attribute %r' % (__name__, name)) from None
