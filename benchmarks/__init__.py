"""Benchmarks of the webhook service (see benchmarks/README.md); not part of the package."""
