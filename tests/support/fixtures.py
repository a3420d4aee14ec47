"""Pytest fixtures for the loopback stack. In a test module:

pytest_plugins = ["tests.support.fixtures"]   # or: from tests.support.fixtures import stack

def test_something(stack: Stack) -> None: ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import Stack, running_stack


@pytest.fixture
def stack() -> Iterator[Stack]:
    """The Devin emulator and the GitHub fake on loopback, fresh for each test."""
    with running_stack() as s:
        yield s
