"""`azwrap demo` from a built wheel, installed outside the repository: the simulator ships inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_simulator_and_its_demo_runs_outside_the_repository(tmp_path):
    dist, target, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                   check=True, capture_output=True, cwd=tmp_path)  # fmt: skip
    [wheel] = dist.glob("azwrap-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    simulator = {f"azwrap/sim/{module.name}" for module in (REPO / "azwrap" / "sim").glob("*.py")}
    assert "azwrap/sim/__init__.py" in simulator  # so that the check below is not vacuous
    assert simulator | {"azwrap/demo-input.csv", "azwrap/cli/demo.py"} <= set(names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "azwrap-sim = azwrap.sim:main" in entry_points
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Dist: click" in metadata and "Requires-Dist: rich" in metadata  # its dependencies go with it
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True)  # fmt: skip
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZWRAP_", "AZSIM_"))}
    # The installed copy, not the repository's: first on the import path and on PATH (its azwrap-sim).
    env.update(PYTHONPATH=str(target), PATH=f"{target / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    where = subprocess.run([sys.executable, "-c", "import azwrap.sim; print(azwrap.sim.__file__)"], env=env,
                           cwd=elsewhere, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(str(target))
    demo = subprocess.run([sys.executable, "-m", "azwrap", "demo", "--dir", str(elsewhere / "demo")], env=env,
                          cwd=elsewhere, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "Done: every step of the book is done." in demo.stderr and "Destroyed:" in demo.stderr
    holds = demo.stdout.split("service principals: ")
    assert holds[1].startswith("1") and holds[2].startswith("0")  # one principal made, then deleted
    assert "password" not in demo.stdout.lower()
