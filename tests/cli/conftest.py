"""The CLI tests' emulator: one per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.emulator import EmulatorConfig, create_emulator_app
from tests.cli.test_cli import Cli
from tests.support.servers import ServerThread, serve


@pytest.fixture(scope="module")
def emulator_server() -> Iterator[ServerThread]:
    with serve(create_emulator_app(EmulatorConfig())) as srv:
        yield srv


@pytest.fixture
def cli(emulator_server: ServerThread, tmp_path: Path) -> Cli:
    runner = Cli(emulator_server, tmp_path)
    runner.admin("POST", "/reset")
    return runner
