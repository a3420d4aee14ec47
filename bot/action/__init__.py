"""The GitHub Action: inputs, event file, the run loop (run, wait, refresh), outputs and
job summary, workflow commands. `entrypoint.py` at the top level is its thin shell."""
