"""``--log FILE --log-format text|json``: where runtime errors and warnings are written, as runc does.

containerd reads the *last error line* of this file to tell its user why a
container failed (its stderr goes nowhere a user sees), so the JSON form is
runc's: ``{"level":"error","msg":"...","time":"2026-11-29T05:00:00Z"}``.
Messages always go to stderr as well, which is what podman shows.
"""

import os
import sys
import time

from . import jsonc

_path = None
_format = "text"


def configure(path, fmt="text"):
    global _path, _format
    _path = path
    _format = fmt or "text"


def error(message):
    _emit("error", message)


def warning(message):
    _emit("warning", message)


def _emit(level, message):
    sys.stderr.write(f"carton: {'warning: ' if level == 'warning' else ''}{message}\n")
    sys.stderr.flush()
    if not _path:
        return
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if _format == "json":
        line = jsonc.dumps({"level": level, "msg": message, "time": now})
    else:
        line = f'time="{now}" level={level} msg="{message}"'
    try:
        fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # the log is a convenience; the message is on stderr already
