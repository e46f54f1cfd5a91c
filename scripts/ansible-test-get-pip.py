# Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads from a
# host these machines cannot reach. ansible-test runs it (as __main__) inside each fresh
# sanity virtual environment with pip-install style arguments (e.g. `pip==24.2`); we seed
# pip from the interpreter's own ensurepip wheel, then install what was asked from the
# package index the machine's pip configuration names.
# `make sanity` copies it to ~/.ansible/test/cache/get_pip_<version>.py.
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=False)
# ensurepip points PIP_CONFIG_FILE at /dev/null for its own run; the real install must see
# the machine's pip configuration (index, certificate bundle).
os.environ.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade"] + args))
