"""The call log: `log.jsonl` beside the state, one JSON record per az call, 0600.

Records hold the command as displayed (secrets masked), never argv itself, and which azwrap command
made the call (`azwrap`: "all", "sp", "destroy --what-if", ...), so that `azwrap log` can tell the runs
apart and pass over the ones that change nothing.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..ui.events import CallEnded


def log_path(state_path: Path) -> Path:
    return state_path.parent / "log.jsonl"


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


class CallLog:
    """Appends a record for each CallEnded event (safe from several threads)."""

    def __init__(self, path: Path, run_id: str, command: str = ""):
        self.path, self.run_id, self.command = path, run_id, command
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        if not isinstance(event, CallEnded):
            return
        record = {
            "run": self.run_id,
            "azwrap": self.command,
            "step": event.step,
            "command": event.command,
            "start": datetime.datetime.fromtimestamp(event.started_at, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "seconds": round(event.seconds, 3),
            "exit_code": event.exit_code,
            "kind": "probe" if event.probe else "book",
            "interrupted": event.interrupted,
        }
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if os.name == "posix" and os.fstat(fd).st_mode & 0o077:
                    os.fchmod(fd, 0o600)
                os.write(fd, line)
            finally:
                os.close(fd)


@dataclass
class Run:
    """One azwrap run's calls, ordered by start."""

    id: str
    command: str  # the azwrap command: "all", "sp", "destroy --what-if"; "" in logs from before it was recorded
    records: list[dict] = field(default_factory=list)

    @property
    def start(self) -> str:
        return self.records[0]["start"]

    @property
    def changes(self) -> bool:
        """A run that may change something: not a what-if (nor a read-only command)."""
        return "--what-if" not in self.command and self.command.split(" ")[0] not in READ_ONLY


READ_ONLY = ("doctor", "status", "log", "plan", "env")


def runs(path: Path) -> list[Run]:
    """Every run in the log, ordered by when it started (none when there is no log)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    by_id: dict[str, Run] = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed run
        if isinstance(record, dict) and isinstance(record.get("run"), str) and isinstance(record.get("start"), str):
            run = by_id.setdefault(record["run"], Run(record["run"], str(record.get("azwrap", ""))))
            run.records.append(record)
    for run in by_id.values():
        run.records.sort(key=lambda record: record["start"])
    return sorted(by_id.values(), key=lambda run: run.start)


def pick(all_runs: list[Run], wanted: str | None) -> Run | None:
    """The run numbered or named `wanted` (1 is the oldest), else the last one that may change something."""
    if wanted is None:
        return next((run for run in reversed(all_runs) if run.changes), None)
    if wanted.isdigit() and 1 <= int(wanted) <= len(all_runs):
        return all_runs[int(wanted) - 1]
    return next((run for run in all_runs if run.id == wanted), None)
