# -*- coding: utf-8 -*-
# Copyright: Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit trail: one structured record per playbook run and per changed (or failed) task."""

from __future__ import annotations

DOCUMENTATION = r"""
name: audit_trail
type: notification
short_description: Writes an audit record of every run and every change made with the collection
description:
  - Appends one JSON object per line (JSON Lines) to O(path) and, when O(syslog) is on, sends the same
    record to the controller's syslog, which the systemd journal collects (identifier C(flash-audit)).
  - A C(run_start) record names who ran what and from where (the controller user (and C(SUDO_USER)), the AWX
    job id, template and user when the run comes from AWX (its C(awx_*)/C(tower_*) extra variables), the
    playbook, the inventory sources, C(--limit), C(--tags), check mode, the collection's version and the
    Git commit of a checkout, and the B(names) of the extra variables).
  - A C(task_changed) or C(task_failed) record per host and task that changed or failed, with the host, play,
    role, task name, action and the task's file and line. A C(run_end) record carries the run's result
    (C(ok) or C(failed)), its duration in seconds, the hosts that changed and the per-host counts.
  - No value is ever recorded. Task arguments, results, diffs, loop items, messages and extra-variable
    values are left out whatever the task says, so a task without C(no_log) cannot leak through the audit
    trail either. A task marked C(no_log) is recorded with C(no_log=true).
  - The file is created with mode 0600 (and its directory 0700 when the plugin creates it). A write that
    fails (full disk, permissions) is reported once as a warning and never fails the run.
version_added: 0.2.0
requirements:
  - Enabled in C(ansible.cfg) (C(callbacks_enabled = flash.connect.audit_trail)) or with
    C(ANSIBLE_CALLBACKS_ENABLED).
options:
  path:
    description:
      - The JSON Lines file records are appended to. An empty value disables the file.
    type: path
    default: ~/.ansible/flash-connect-audit.jsonl
    env:
      - name: FLASH_AUDIT_TRAIL_PATH
    ini:
      - section: callback_audit_trail
        key: path
  syslog:
    description:
      - Also send every record to the controller's syslog (facility C(LOG_AUTHPRIV)), where journald
        stores it with the identifier C(flash-audit).
    type: bool
    default: true
    env:
      - name: FLASH_AUDIT_TRAIL_SYSLOG
    ini:
      - section: callback_audit_trail
        key: syslog
"""

import datetime
import getpass
import json
import os
import subprocess
import time
import uuid

from ansible import context
from ansible.plugins.callback import CallbackBase

try:
    import syslog
except ImportError:  # pragma: no cover - not on every platform
    syslog = None

# Extra variables AWX passes to every job (awx_* and their older tower_* names).
_AWX_FIELDS = ("job_id", "job_template_name", "user_name", "workflow_job_id")


def _collection_root():
    """The collection's root: three levels up from plugins/callback/audit_trail.py."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_identity(root):
    """Version (MANIFEST.json of an installed collection, else galaxy.yml) and the Git commit of a checkout."""
    version = None
    manifest = os.path.join(root, "MANIFEST.json")
    galaxy = os.path.join(root, "galaxy.yml")
    try:
        if os.path.exists(manifest):
            with open(manifest, encoding="utf-8") as handle:
                version = json.load(handle)["collection_info"]["version"]
        elif os.path.exists(galaxy):
            with open(galaxy, encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith("version:"):
                        version = line.split(":", 1)[1].strip().strip("'\"")
                        break
    except (OSError, ValueError, KeyError):
        version = None
    commit = None
    if os.path.exists(os.path.join(root, ".git")):
        try:
            out = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, universal_newlines=True, timeout=5, check=False)
            commit = out.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            commit = None
    return {"version": version, "commit": commit}


def awx_identity(extra_vars):
    """The AWX job fields from a run's extra variables (awx_* first, then the tower_* names)."""
    found = {}
    for field in _AWX_FIELDS:
        for prefix in ("awx_", "tower_"):
            value = extra_vars.get(prefix + field)
            if value not in (None, ""):
                found[field] = value if isinstance(value, (int, float)) else str(value)
                break
    return found or None


def task_record(event, host, task, play_name):
    """A record for one host and task: identity only, never arguments or results."""
    role = getattr(task, "_role", None)
    return {
        "event": event,
        "host": host,
        "play": play_name,
        "role": role.get_name() if role is not None else None,
        "task": task.get_name(),
        "action": task.action,
        "path": task.get_path(),
        "no_log": bool(task.no_log),
    }


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "flash.connect.audit_trail"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._run_id = uuid.uuid4().hex
        self._started = time.monotonic()
        self._playbook = None
        self._play = None
        self._path = None
        self._syslog = False
        self._warned = False
        self._announced = False

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        path = self.get_option("path")
        self._path = os.path.expanduser(path) if path else None
        self._syslog = bool(self.get_option("syslog")) and syslog is not None

    # -- output ---------------------------------------------------------------------------
    def _emit(self, record):
        record = dict(record, run_id=self._run_id,
                      time=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        line = json.dumps(record, sort_keys=True, default=str)
        if self._path:
            try:
                directory = os.path.dirname(self._path)
                if directory and not os.path.isdir(directory):
                    os.makedirs(directory, mode=0o700)
                fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError as err:
                if not self._warned:
                    self._display.warning("audit_trail: cannot write %s: %s" % (self._path, err.strerror))
                    self._warned = True
        if self._syslog:
            syslog.openlog("flash-audit", 0, syslog.LOG_AUTHPRIV)
            syslog.syslog(syslog.LOG_NOTICE, line)

    # -- events ---------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.abspath(playbook._file_name)
        # For the flash.connect.audit_changes lookup (run in the workers, which inherit this
        # environment): which run this is and where its records are.
        os.environ["FLASH_AUDIT_RUN_ID"] = self._run_id
        if self._path:
            os.environ["FLASH_AUDIT_TRAIL_FILE"] = os.path.abspath(self._path)
        else:
            os.environ.pop("FLASH_AUDIT_TRAIL_FILE", None)

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()
        if self._announced:
            return
        self._announced = True
        extra_vars = play.get_variable_manager().extra_vars or {}
        args = context.CLIARGS
        self._emit({
            "event": "run_start",
            "user": getpass.getuser(),
            "sudo_user": os.environ.get("SUDO_USER"),
            "awx": awx_identity(extra_vars),
            "playbook": self._playbook,
            "inventory": list(args.get("inventory") or ()),
            "limit": args.get("subset"),
            "tags": list(args.get("tags") or ()),
            "skip_tags": list(args.get("skip_tags") or ()),
            "check_mode": bool(args.get("check")),
            "extra_var_names": sorted(extra_vars),
            "collection": collection_identity(_collection_root()),
        })

    def v2_runner_on_ok(self, result):
        if result._result.get("changed", False):
            self._emit(task_record("task_changed", result._host.get_name(), result._task, self._play))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        record = task_record("task_failed", result._host.get_name(), result._task, self._play)
        record["ignored"] = bool(ignore_errors)
        self._emit(record)

    def v2_runner_on_unreachable(self, result):
        self._emit(task_record("host_unreachable", result._host.get_name(), result._task, self._play))

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed)
        summary = {host: stats.summarize(host) for host in hosts}
        failed = any(s["failures"] or s["unreachable"] for s in summary.values())
        self._emit({
            "event": "run_end",
            "playbook": self._playbook,
            "result": "failed" if failed else "ok",
            "duration_s": round(time.monotonic() - self._started, 1),
            "changed_hosts": [host for host in hosts if summary[host]["changed"]],
            "stats": summary,
        })
