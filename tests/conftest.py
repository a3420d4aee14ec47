"""Shared fixtures: `stack` (the Devin emulator and the GitHub fake on loopback)."""

pytest_plugins = ["tests.support.fixtures"]
