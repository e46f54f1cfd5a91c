# flash.connect — the two commands a user needs:
#   make lab    bring the whole stack up on local Docker containers (.lab/endpoints.json)
#   make test   every gate: lint, unit tests, sanity, collection build, every Molecule scenario
# Both work from zero on Debian 12 as root: they install the engine, build the platform image
# and create .venv themselves.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT       := $(CURDIR)
VENV       := $(ROOT)/.venv
BIN        := $(VENV)/bin
STAGE      := $(ROOT)/scripts/stage.sh
COLL_LINK  := $(ROOT)/.collections/ansible_collections/flash/connect
SANITY_DIR := $(ROOT)/.build/sanity/ansible_collections/flash/connect
# Scenarios in the order make test runs them (every directory under molecule/ with a molecule.yml).
SCENARIOS  ?= $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))
SCENARIO   ?=
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PLATFORM_IMAGE ?= flash-connect/platform:bookworm
export STAGE_LOG := $(ROOT)/.build/stages.tsv
# The lab's targets and the Molecule scenarios run Ansible with Mitogen's strategy
# (scripts/lab-executor.sh; FLASH_LAB_EXECUTOR=ansible: without).
LAB_ENV    := . $(ROOT)/scripts/lab-executor.sh &&

.PHONY: print-scenarios lab-check help preflight venv engine image link lint yamllint ansible-lint units sanity \
        collection molecule molecule-all test lab lab-destroy lab-deploy lab-rollback lab-rotate lab-dr app-image clean lock

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

preflight: ## check this machine can run the lab and the tests (root, OS, python3)
	@scripts/preflight.sh $(or $(FLASH_GOAL),$(firstword $(MAKECMDGOALS)),test)

venv: ## create .venv with the pinned toolchain (a no-op when up to date)
	@scripts/venv.sh

engine: preflight ## install and start the Docker engine when missing
	@scripts/docker-engine.sh

image: engine ## build the systemd platform image (cached by tag)
	@scripts/build-image.sh

app-image: image ## build the reference app images (tests/app; cached by tag)
	@scripts/build-app-image.sh

link: ## make the checkout visible to Ansible as flash.connect
	@mkdir -p $(dir $(COLL_LINK))
	@[ -L $(COLL_LINK) ] || ln -sfn ../../.. $(COLL_LINK)

yamllint: venv
	yamllint -s .

ansible-lint: venv link
	ansible-lint --profile production --offline

lint: yamllint ansible-lint ## yamllint + ansible-lint (production profile)

units: venv link ## pytest for every plugin and the alert rules (promtool from Debian)
	@scripts/monitoring-tools.sh
	python -m pytest -q

sanity: venv ## ansible-test sanity on a copy of the tree at ansible_collections/flash/connect
	@command -v shellcheck >/dev/null || { [ "$$(id -u)" -eq 0 ] && . scripts/lib.sh && apt_install shellcheck; } || true
	@pipv=$$(grep -o "pip='[0-9.]*'" $(VENV)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | grep -o '[0-9.]*' | tr . _); \
	  mkdir -p ~/.ansible/test/cache && cp scripts/ansible-test-get-pip.py ~/.ansible/test/cache/get_pip_$$pipv.py
	rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C $(SANITY_DIR) -xf -
	cd $(SANITY_DIR) && git init -q && git add -A && \
	  ansible-test sanity --requirements --python 3.11 --color no

collection: venv ## build the tarball, install it into an empty path, ansible-doc every plugin
	scripts/check-collection.sh

molecule: preflight venv image link ## one scenario from zero: make molecule SCENARIO=redis
	@[ -n "$(SCENARIO)" ] || { echo "usage: make molecule SCENARIO=<one of: $(SCENARIOS)>" >&2; exit 2; }
	@[ -f molecule/$(SCENARIO)/molecule.yml ] || { echo "no scenario '$(SCENARIO)'; have: $(SCENARIOS)" >&2; exit 2; }
	$(LAB_ENV) molecule test -s $(SCENARIO)

molecule-all: preflight venv image link ## every Molecule scenario, MOLECULE_JOBS (2) at a time
	scripts/molecule-pool.sh $(SCENARIOS)

test: ## every gate and every scenario (what CI runs); prints each stage's duration
	@scripts/test.sh

lab: preflight venv app-image link ## the whole stack on local containers; writes .lab/endpoints.json
	$(LAB_ENV) ansible-playbook -i inventories/lab playbooks/lab.yml

TAG ?=
lab-deploy: venv link ## blue/green deploy of TAG (e.g. make lab-deploy TAG=1.1.0) to the lab
	@[ -n "$(TAG)" ] || { echo "make lab-deploy: give the release, e.g. TAG=1.1.0" >&2; exit 2; }
	$(LAB_ENV) ansible-playbook -i inventories/lab playbooks/deploy.yml -e app_image_tag=$(TAG)

lab-rollback: venv link ## back to the previous release in the lab
	$(LAB_ENV) ansible-playbook -i inventories/lab playbooks/rollback.yml

lab-rotate: venv link ## rotate every secret of the lab now, without downtime
	$(LAB_ENV) ansible-playbook -i inventories/lab playbooks/rotate_secrets.yml -e rotate_secrets_force=true

lab-dr: venv link ## the disaster-recovery drill: every Redis host lost, restored from the backups; RPO and RTO (.lab/dr-drill.json)
	$(LAB_ENV) ansible-playbook -i inventories/lab playbooks/dr_drill.yml

lab-destroy: venv link ## remove every container, network and volume the lab made
	$(LAB_ENV) ansible-playbook -i inventories/lab playbooks/lab_destroy.yml

lab-check: preflight venv app-image link ## make lab twice (changed=0 the second time), then lab-destroy leaving nothing
	scripts/lab-check.sh

lock: venv ## re-pin the full toolchain closure into requirements/constraints.txt
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)==' > requirements/constraints.txt

clean: ## remove build output (not .venv, images or the lab)
	rm -rf .build

print-scenarios:
	@echo $(SCENARIOS)
