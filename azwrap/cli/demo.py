"""`azwrap demo`: the whole setup, then its teardown, against the offline az simulator that ships inside
azwrap (the package azwrap/sim, run as the `azwrap-sim` program): a look at what azwrap does before it is
pointed at a real subscription. Nothing reaches Azure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ACCOUNT = "demodatalake"
SAMPLE = Path(__file__).parents[1] / "demo-input.csv"  # package data of azwrap


class DemoError(Exception):
    """The demo cannot start (no simulator program beside azwrap)."""


def simulator() -> str:
    """The `azwrap-sim` program that pip installed with azwrap (beside this Python first, then on PATH)."""
    search = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    found = shutil.which("azwrap-sim", path=search)
    if found is None:
        raise DemoError("the azwrap-sim program (installed with azwrap) was not found; reinstall azwrap")
    return found


def _environment(sim: str, home: Path) -> dict:
    # The user's own AZWRAP_* settings (a subscription, a state file) must not steer the demo.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZWRAP_", "AZSIM_"))}
    env.update(AZWRAP_AZ=sim, AZSIM_HOME=str(home))
    return env


def _say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def run(directory: Path | None) -> int:
    """Reset the simulator in a directory, run `azwrap all`, show what it holds, `azwrap destroy --yes`,
    show it again. Returns the first failing exit code, else 0."""
    sim = simulator()
    work = directory or Path(tempfile.mkdtemp(prefix="azwrap-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / ".azwrap", ignore_errors=True)
    shutil.copyfile(SAMPLE, work / "input.csv")
    env = _environment(sim, work / ".az-sim")
    azwrap = [sys.executable, "-m", "azwrap"]
    _say(f"azwrap against an offline az simulator in {work} (signed out, nothing created; nothing reaches "
         "Azure). Each `$ az ...` line is an az command azwrap runs.")
    script = [
        ("a fresh simulated Azure", [sim, "--reset"]),
        (f"the whole setup: azwrap all --account {ACCOUNT}", [*azwrap, "all", "--account", ACCOUNT]),
        ("what the simulated Azure now holds (the secret is not shown)", [sim, "--summary"]),
        ("and the teardown: azwrap destroy --yes (deletes only what azwrap made)", [*azwrap, "destroy", "--yes"]),
        ("what is left", [sim, "--summary"]),
    ]
    for what, argv in script:
        _say(what)
        code = subprocess.run(argv, cwd=work, env=env, check=False).returncode
        if code != 0:
            _say(f"stopped: exit {code}")
            return code
    _say(f"done; the demo's files are in {work}" if directory else "done")
    if directory is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0
