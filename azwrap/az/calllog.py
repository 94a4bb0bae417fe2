"""The call log: `log.jsonl` beside the state, one JSON record per az call, 0600.

Records hold the command as displayed (secrets masked), never argv itself.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
from pathlib import Path

from ..ui.events import CallEnded


def log_path(state_path: Path) -> Path:
    return state_path.parent / "log.jsonl"


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


class CallLog:
    """Appends a record for each CallEnded event (safe from several threads)."""

    def __init__(self, path: Path, run_id: str):
        self.path, self.run_id = path, run_id
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        if not isinstance(event, CallEnded):
            return
        record = {
            "run": self.run_id,
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


def last_run(path: Path) -> list[dict]:
    """The records of the last run in the log (none when there is no log)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed run
        if isinstance(record, dict) and "run" in record:
            records.append(record)
    if not records:
        return []
    run = records[-1]["run"]
    return [record for record in records if record["run"] == run]


def table(records: list[dict]) -> list[str]:
    lines = [f"run {records[0]['run']}: {len(records)} az call(s)"] if records else ["no az call recorded yet"]
    for record in records:
        code = "stopped" if record.get("interrupted") else f"exit {record['exit_code']}"
        lines.append(f"  {record['start'][11:23]}  {record['seconds']:>7.2f}s  {code:<7}  {record['kind']:<5}  "
                     f"{record['step']:<9}  {record['command']}")  # fmt: skip
    return lines
