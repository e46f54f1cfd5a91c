# shellcheck shell=bash
# Sourced by the lab's make targets and scripts/lab-check.sh: the lab runs Ansible with
# Mitogen's strategy (mitogen_linear), which keeps one Python interpreter per lab host for the
# whole run instead of starting one per task through `docker exec`. A no-op `make lab` takes
# about half the time (docs/benchmarks/lab.md). The playbooks, roles and results are the same:
# FLASH_LAB_EXECUTOR=ansible runs the lab with Ansible's own linear strategy, as AWX or an
# operator's plain ansible-playbook does (the Molecule scenarios always do).
# The lab inventory names its connection `docker` (Ansible redirects it to
# community.docker.docker): Mitogen takes over connections by their short names only.
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
