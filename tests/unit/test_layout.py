"""The folders show the architecture: imports run down the layers only (cli -> core -> az -> book ->
store/ui), and the simulator stands apart from azwrap's own code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "azwrap"
# Higher may import lower; equal ranks only within one folder.
RANK = {"errors": 0, "store": 1, "ui": 1, "book": 2, "az": 3, "core": 4, "cli": 5}
MODULES = sorted(path for path in PACKAGE.rglob("*.py") if path.parent.name in RANK)


def _folder(path: Path) -> str:
    return path.parent.name if path.parent != PACKAGE else path.stem


def imported_folders(path: Path, root: Path = PACKAGE) -> set[str]:
    """The azwrap folders a module imports from (relative imports, resolved)."""
    found = set()
    package = path.relative_to(root.parent).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = (*base, *(node.module.split(".") if node.module else ()))
            names = [target] if node.module else [(*target, alias.name) for alias in node.names]
            found.update(name[1] for name in names if len(name) > 1)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("azwrap."):
            found.add(node.module.split(".")[1])
    return {folder for folder in found if folder in RANK}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_from_its_folder_or_the_layers_below(path):
    own = _folder(path)
    upward = sorted(folder for folder in imported_folders(path) if folder != own and RANK[folder] >= RANK[own])
    assert not upward, f"{path.relative_to(PACKAGE)} ({own}) imports from {upward}"


def test_the_layer_check_sees_an_upward_import(tmp_path):
    # The check itself can fail: a module of book importing core and az is caught.
    fake = tmp_path / "azwrap" / "book" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..core import planning\nfrom .. import az\nfrom . import steps\n")
    assert imported_folders(fake, tmp_path / "azwrap") == {"core", "az", "book"}


def test_the_simulator_imports_nothing_of_azwrap():
    for path in sorted((PACKAGE / "sim").rglob("*.py")) or [PACKAGE / "azsim.py"]:
        tree = ast.parse(path.read_text())
        outside = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and (node.level > 1 or (node.module or "").startswith("azwrap"))]  # fmt: skip
        assert not outside, f"{path.name} imports {outside}"
