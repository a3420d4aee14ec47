"""Pytest fixtures for the loopback stack (loaded for every test by tests/conftest.py):

def test_something(stack: Stack) -> None: ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack_servers() -> Iterator[Stack]:
    """One emulator and one GitHub fake for the whole test session (starting them costs
    a few hundred milliseconds)."""
    with running_stack() as s:
        yield s


@pytest.fixture
def stack(stack_servers: Stack) -> Iterator[Stack]:
    """The Devin emulator and the GitHub fake on loopback, with empty state for each test.

    For a custom `EmulatorConfig`, use `running_stack(config)` from tests/support/stack.py.
    """
    stack_servers.reset()
    yield stack_servers
    stack_servers.close()
