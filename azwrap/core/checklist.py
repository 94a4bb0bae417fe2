"""A checklist as verify prints it: one line per check, ok, FAIL, wait or skip, with the fix and, for a
check that waited in vain, the likely causes with the command that shows each."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..az.runner import AzFailed

OK, FAIL, WAIT, SKIP = "ok", "FAIL", "wait", "skip"


@dataclass
class Check:
    check: str
    status: str  # ok, FAIL, wait (while waiting only), skip (could not be checked)
    detail: str
    fix: str = ""
    causes: tuple[tuple[str, str], ...] = ()  # (likely cause, the command that shows it), most likely first
    waited: float = 0.0  # seconds this check waited for a role to apply


def said(error: AzFailed) -> str:
    """The line of az's stderr that says what went wrong (its ERROR line, else its last)."""
    tail = [line for line in error.stderr_tail if line.strip()]
    found = next((line for line in tail if line.startswith("ERROR") and line.strip() != "ERROR:"), tail[-1] if tail else "")
    return found.strip() or error.reason or f"exit {error.exit_code}"


def failed(checks: list[Check]) -> bool:
    return any(check.status == FAIL for check in checks)


def as_dicts(checks: list[Check]) -> list[dict]:
    out = []
    for check in checks:
        record = asdict(check)
        record["causes"] = [{"cause": cause, "shows": shows} for cause, shows in check.causes]
        record["waited"] = round(check.waited, 1)
        out.append(record)
    return out


def lines(checks: list[Check]) -> list[str]:
    out, shown = [], {}  # causes already listed -> the check they were listed under
    for check in checks:
        out.append(f"{check.status:<4} {check.check:<9} {check.detail}")
        pad = " " * 15
        if check.fix and check.status != OK:
            out.append(f"{pad}fix: {check.fix}")
        if check.causes and check.causes in shown:
            out.append(f"{pad}(the likely causes are those of {shown[check.causes]}, above)")
            continue
        shown.setdefault(check.causes, check.check)
        for number, (cause, shows) in enumerate(check.causes, 1):
            out += [f"{pad}{number}. {cause}", f"{pad}   shows it: {shows}"]
    return out
