"""devin-bridge: hand work to Devin from GitHub (Action and webhook service)."""

__version__ = "0.1.0"
