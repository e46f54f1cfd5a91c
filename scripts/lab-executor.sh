# shellcheck shell=bash
# Sourced by the lab's make targets, scripts/lab-check.sh, `make molecule` and
# scripts/molecule-pool.sh: Ansible runs with Mitogen's strategy (mitogen_linear), which keeps one
# Python interpreter per host for the whole run instead of starting one per task through
# `docker exec`. A no-op `make lab` takes about half the time (docs/benchmarks/lab.md); the
# proxy scenario took 9m12s with it, beside another scenario, against 13m16s without in the
# last CI run, and half the CPU time. The playbooks, roles and results are the same:
# FLASH_LAB_EXECUTOR=ansible runs with Ansible's own linear strategy, as AWX or an operator's
# plain ansible-playbook does. Ansible's own strategy stays covered in `make test`: the
# scenarios whose molecule.yml sets ANSIBLE_STRATEGY: linear (those that restart their hosts
# or collect async jobs on a delegated host, which Mitogen's contexts do not survive) and every
# -vvv no-secret check run with it.
# The lab inventory and the Molecule base config name the connection `docker` (Ansible
# redirects it to community.docker.docker): Mitogen takes over connections by their short
# names only.
case "${FLASH_LAB_EXECUTOR:-mitogen}" in
  mitogen)
    __mitogen_dir="$("${FLASH_PYTHON:-python3}" -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))' 2>/dev/null)" \
      || { echo "lab-executor: Mitogen is not installed in this Python (make venv installs it; FLASH_LAB_EXECUTOR=ansible runs without it)" >&2; return 1; }
    export ANSIBLE_STRATEGY_PLUGINS="$__mitogen_dir/plugins/strategy"
    export ANSIBLE_STRATEGY=mitogen_linear
    unset __mitogen_dir
    ;;
  ansible)
    unset ANSIBLE_STRATEGY_PLUGINS ANSIBLE_STRATEGY
    ;;
  *)
    echo "lab-executor: FLASH_LAB_EXECUTOR must be mitogen or ansible, not '${FLASH_LAB_EXECUTOR}'" >&2
    return 2
    ;;
esac
