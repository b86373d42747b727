"""Signalling every process in a container's cgroup (both drivers use this)."""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import os

from ..errors import CartonError


def kill_all(manager, sig, can_freeze):
    """Send ``sig`` to every process in the container (shared by the v1 and v2 drivers).

    For SIGKILL the cgroup is frozen first: a frozen process cannot fork, so
    none can escape by making children between our reading the list and
    signalling it. The kills wait in the frozen processes; thawing lets them
    take effect (this is what runc does). Without a freezer we go round until
    no process is left that we have not signalled.
    """
    frozen = False
    if sig == signal.SIGKILL and can_freeze:
        try:
            manager.freeze()
            frozen = True
        except CartonError:
            pass  # e.g. a task stuck in the kernel; kill what we can anyway
    try:
        signalled = set()
        for _ in range(1 if frozen or sig != signal.SIGKILL else 20):
            fresh = [pid for pid in manager.pids() if pid not in signalled]
            if not fresh:
                break
            for pid in fresh:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
                signalled.add(pid)
    finally:
        if frozen:
            manager.thaw()
