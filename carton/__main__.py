"""``python -m carton``."""

from carton.cli.main import entry

entry()
