"""`devin-bridge demo`: the whole loop offline on loopback (the Devin emulator, a GitHub
API stand-in and the real `serve`). Imported by the CLI only."""
