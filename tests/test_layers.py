"""The layers of docs/architecture.md, enforced by import-linter (contracts in pyproject.toml).

import-linter follows every import, including those inside functions, and reports a
chain for each import that goes against the layers.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from importlinter.cli import lint_imports

import nas

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
#: the top of nas: orchestration over every layer
NAS_TOP = {"nas.cli", "nas.search", "nas.__main__"}


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_import_contracts_are_kept(capsys):
    code = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out


def test_every_module_of_nas_is_in_a_layer():
    layers = _contracts()["layers"]["layers"]
    listed = {name.strip().strip("()") for layer in layers
              for name in layer.replace("|", ":").split(":")}
    modules = {f"nas.{m.name}" for m in pkgutil.iter_modules(nas.__path__)}
    assert modules - NAS_TOP <= listed, f"not in the core layer: {modules - NAS_TOP - listed}"
    assert NAS_TOP <= listed


def test_a_core_module_importing_bench_breaks_the_contract(tmp_path):
    # the check itself can fail: a copy of the project whose core imports bench
    for package in ("nas", "bench", "predictors", "grammars", "maintainer"):
        for path in (ROOT / package).rglob("*.py"):
            target = tmp_path / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    registry = tmp_path / "nas" / "registry.py"
    registry.write_text(registry.read_text() + "\nimport bench.store  # noqa\n")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.read_text())
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "nas.registry -> bench.store" in run.stdout
