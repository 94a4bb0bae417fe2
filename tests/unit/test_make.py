"""The Makefile: `make demo` installs azwrap alone; `make test` installs the test tools too."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

def _installs(target: str, tmp_path: Path) -> list[str]:
    """The pip commands `make TARGET` would run in a fresh clone (-n: print, run nothing; -B: as if new)."""
    listing = subprocess.run(["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [line for line in listing.splitlines() if "pip install" in line]


def test_make_demo_installs_azwrap_without_the_test_tools(tmp_path):
    installs = _installs("demo", tmp_path)
    assert len(installs) == 1
    assert installs[0].endswith(" -e ."), installs
    assert "[test]" not in installs[0]


def test_make_test_installs_the_test_tools(tmp_path):
    assert any(line.endswith("-e '.[test]'") for line in _installs("test", tmp_path))
