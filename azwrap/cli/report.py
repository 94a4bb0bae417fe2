"""`azwrap status` as text a person reads: aligned tables within the terminal's width, no Python literals."""

from __future__ import annotations

from pathlib import Path

from ..ui.table import table, width, wrap
from .options import option_name

# What a setting with no value means (instead of Python's None).
UNSET = {"subscription": "(az's current one)", "account": "(none: give --account)"}
START = "azwrap all --account NAME"


def _value(name: str, value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return UNSET.get(name, "(none)")
    return str(value)


def _when(iso: str | None) -> str:
    """2026-12-05T19:43:35+00:00 as 2026-12-05 19:43:35 (the heading says UTC)."""
    return iso[:19].replace("T", " ") if iso else ""


def nothing_recorded(report: dict) -> bool:
    return not report["resources"] and all(step["status"] != "done" for step in report["steps"])


def lines(report: dict, state_path: Path, running: dict | None, refresh: bool, columns: int | None = None) -> list[str]:
    """The status report as text lines."""
    columns = columns or width()
    out = [f"State file: {state_path}"]
    if running:
        steps = ", ".join(running["running"]) or "none right now (between steps)"
        out += wrap(f"In progress: {running['command'] or 'azwrap'} (pid {running['pid']}, started "
                    f"{_when(running['started'])} UTC); steps running: {steps}. What follows is what it has "
                    "recorded so far.", columns)  # fmt: skip
    if nothing_recorded(report) and not running:
        out += wrap(f"Nothing is recorded here yet: no step has run with this state file. Start with `{START}` "
                    "(`azwrap plan` prints its commands first; `azwrap demo` tries it offline).", columns)  # fmt: skip
    else:
        sub = report["subscription"]
        if sub:
            out += wrap(f"Subscription: {sub.get('name')} ({sub.get('id')}), tenant {sub.get('tenantId')}", columns)
        out += ["", "Steps"]
        rows = [["step", "status", "done at (UTC)", "took"]]
        rows += [[step["step"], "running" if running and step["step"] in running["running"] else step["status"],
                  _when(step["done_at"]), f"{step['seconds']:.1f}s" if step.get("seconds") is not None else ""]
                 for step in report["steps"]]  # fmt: skip
        out += table(rows, columns)
    out += ["", "Settings (the value, and where it comes from)"]
    out += table([[option_name(name), _value(name, entry["value"]), entry["source"]]
                  for name, entry in report["settings"].items()], columns)  # fmt: skip
    if report["resources"]:
        out += ["", "Resources (recorded" + (", and whether they are there now)" if refresh else ")")]
        out += table([[entry["resource"], "made by azwrap" if entry["created"] else "yours"]
                      + ([entry["live"]] if refresh else []) for entry in report["resources"]], columns)  # fmt: skip
    if report.get("earlier"):
        out += ["", "Made by azwrap under earlier settings (they stay, and bill: `azwrap destroy` removes them)"]
        out += table([[entry["resource"]] for entry in report["earlier"]], columns)
    if report["outputs"]:
        out += ["", "Recorded values (never the secret)"]
        out += table([[name, str(value)] for name, value in report["outputs"].items()], columns)
    return out


LISTED_RUNS = 20


def run_lines(run, number: int, total: int, columns: int | None = None) -> list[str]:
    """One run's az calls, by start: when, how long, exit code, probe or book, step, the command."""
    columns = columns or width()
    out = wrap(f"Run {number} of {total}: azwrap {run.command or '(command not recorded)'}, started "
               f"{_when(run.start)} UTC, {len(run.records)} az call(s) (run id {run.id})", columns)  # fmt: skip
    rows = [["start", "seconds", "exit", "kind", "step", "command"]]
    for record in run.records:
        code = "stopped" if record.get("interrupted") else str(record.get("exit_code"))
        rows.append([record["start"][11:23], f"{record.get('seconds', 0):.2f}", code, str(record.get("kind", "")),
                     str(record.get("step", "")), str(record.get("command", ""))])  # fmt: skip
    return out + table(rows, columns)


def runs_lines(all_runs: list, default, columns: int | None = None) -> list[str]:
    """The recent runs, oldest first, numbered for `azwrap log --run N`."""
    columns = columns or width()
    shown = all_runs[-LISTED_RUNS:]
    first = len(all_runs) - len(shown) + 1
    rows = [["run", "started (UTC)", "command", "az calls", "failed", ""]]
    for number, run in enumerate(shown, first):
        # (a probe's non-zero exit is an answer, not a failure: "not signed in", "not there")
        failed = sum(1 for record in run.records if record.get("kind") == "book"
                     and (record.get("exit_code") != 0 or record.get("interrupted")))  # fmt: skip
        note = "shown by `azwrap log`" if run is default else "" if run.changes else "changes nothing"
        rows.append([str(number), _when(run.start), run.command or "?", str(len(run.records)), str(failed), note])
    out = [f"{first - 1} older run(s) not listed."] if first > 1 else []
    return out + table(rows, columns) + ["", "`azwrap log --run N` shows the calls of run N."]
