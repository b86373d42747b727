"""``kill``: send a signal to a container's init, or with ``--all`` to every process in it."""

import os
import signal

from ..errors import CartonError
from .state import open_state, status


def parse_signal(text):
    """``TERM``, ``SIGTERM``, ``sigterm`` or ``15`` → 15, as runc accepts them."""
    text = text.strip()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        number = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if number is not None:
            return int(number)
        if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX"):
            base = signal.SIGRTMIN if name.startswith("SIGRTMIN") else signal.SIGRTMAX
            offset = name[8:]
            try:
                value = base + int(offset) if offset else base
            except ValueError:
                value = -1
            if signal.SIGRTMIN <= value <= signal.SIGRTMAX:
                return value
    raise CartonError(f"unknown signal {text!r}", 1)


def kill(root, container_id, sig, all_processes=False):
    sd, record = open_state(root, container_id)
    current = status(sd, record)
    if current == "stopped":
        raise CartonError(f"container not running: {container_id}", 1)
    if all_processes:
        from .. import cgroups

        cgroups.from_paths(record["cgroup_paths"]).kill_all(sig)
        return
    try:
        os.kill(record["pid"], sig)
    except ProcessLookupError:
        raise CartonError(f"container not running: {container_id}", 1) from None
