"""The architecture is checked, not hoped for: import-linter's contracts in pyproject.toml
hold on the tree, they fail on a planted upward import or cycle, and the public entry
points at the old module paths still resolve."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_lint import tool

ROOT = Path(__file__).resolve().parent.parent
LAYERS = (
    "core",
    "devin",
    "github",
    "engine",
    "store",
    "action",
    "service",
    "cli",
    "emulator",
    "demo",
)

# Modules allowed past ~400 lines, each with the reason (the rest stay under it).
LONG_MODULES: dict[str, str] = {
    # The emulator's session state machine: one lock guards all of it.
    "bot/emulator/state.py": "one lock-guarded state machine",
    # Scenario scripts are data: a table of steps per scenario.
    "bot/emulator/scenarios.py": "scenario tables",
}


def lint_imports(cwd: Path, *, env_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = None
    if env_path is not None:
        import os

        env = {**os.environ, "PYTHONPATH": str(env_path)}
    return subprocess.run(
        [tool("lint-imports"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_layers_contract_holds() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert result.stdout.count("KEPT") == 3


def _copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        # The core importing the service: an upward import.
        ("bot/core/commands.py", "import bot.service.app", "Layers"),
        # A client importing the engine: upward again.
        ("bot/devin/errors.py", "import bot.engine.handlers", "Layers"),
        # The core importing an HTTP library.
        ("bot/core/polling.py", "import requests", "The core is pure"),
        # Two siblings importing each other: a cycle inside one layer.
        ("bot/core/markdown.py", "import bot.core.comments", "No import cycles"),
    ],
)
def test_contract_breaks_on_a_planted_import(
    tmp_path: Path, module: str, planted: str, contract: str
) -> None:
    tree = _copy_tree(tmp_path)
    target = tree / module
    text = target.read_text()
    marker = "from __future__ import annotations\n"
    target.write_text(text.replace(marker, marker + "\n" + planted + "  # planted\n", 1))
    result = lint_imports(tree, env_path=tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


def test_every_layer_is_a_package() -> None:
    for layer in LAYERS:
        assert (ROOT / "bot" / layer / "__init__.py").is_file(), layer
    loose = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    # Only the package marker and the stable entry-point aliases stay at the top.
    assert loose == ["__init__.py", "__main__.py", "app.py", "gunicorn_conf.py"]


def test_public_entry_points_keep_working() -> None:
    app_module = importlib.import_module("bot.app")
    assert callable(app_module.create_app)
    conf = importlib.import_module("bot.gunicorn_conf")
    assert conf.worker_class == "gthread"
    assert callable(conf.post_worker_init)
    from bot.cli import main as package_main
    from bot.cli.console import main

    assert callable(main) and callable(package_main)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "devin-bridge" in result.stdout


def test_modules_stay_small() -> None:
    long = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        count = len(path.read_text().splitlines())
        if count > 420 and rel not in LONG_MODULES:
            long[rel] = count
    assert not long, f"split these modules or list them with a reason: {long}"
