"""Command-line front doors: argument parsing only, then calls into the runtime core."""
