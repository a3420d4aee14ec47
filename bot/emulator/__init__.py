"""A local Devin API v3 emulator: develop and test workflows offline, over real HTTP.

    from bot.emulator import EmulatorConfig, create_emulator_app, serve

`create_emulator_app(config)` builds a Flask app whose state is
`app.extensions["devin_emulator"]` (an `Emulator`); the same controls are
served under `/_emulator/` (see `GET /_emulator/` and `bot.emulator.scenarios`
for the scripted session lifecycles).
"""

from bot.emulator.app import create_emulator_app
from bot.emulator.config import EmulatorConfig
from bot.emulator.server import serve
from bot.emulator.session_inputs import NewSession, SessionFilter
from bot.emulator.state import Emulator

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "NewSession",
    "SessionFilter",
    "create_emulator_app",
    "serve",
]
