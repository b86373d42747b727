"""The sweep: what a crashed ``carton run`` left behind is removed by the next one.

A foreground ``carton run`` owns its container: it deletes it when the
command ends. If that carton process dies without cleaning up (``kill -9``,
an OOM kill, a power cut of the terminal), the container's state directory
says so: it is marked ``foreground`` and names the carton process (PID and
start time) that ran it, which no longer exists. Such a container is an
orphan: the sweep kills what is left of it and removes everything it owned
(cgroup, name, network leases, veth, NAT rules, state) with the same
``remove`` that ``delete`` uses.

Network leases whose container directory is gone altogether are released
by ``network/bridge.py`` whenever it takes its lock.
"""

import os

from ..errors import CartonError
from .state import list_states, pid_alive, status


def sweep(root):
    """Remove the orphans of crashed foreground runs under ``root``; return how many."""
    removed = 0
    for sd, record in list_states(root):
        if not record.get("foreground") or pid_alive(record.get("carton_pid"),
                                                      record.get("carton_start")):
            continue
        try:
            lock = sd.lock()
        except OSError:
            continue  # removed meanwhile
        try:
            try:
                record = sd.load()  # again, under the lock: a rival sweep may have been first
            except (OSError, ValueError):
                continue
            from .. import explain
            from .delete import remove

            explain.step(f"sweep container {sd.id[:12]}",
                         "the carton that ran it died without cleaning up")
            current = status(sd, record)
            if current == "stopped" and pid_alive(record.get("pid"), record.get("start_time")):
                current = "running"  # a create cut short: its init may still wait on the FIFO
            remove(sd, record, current)
            removed += 1
        except CartonError as e:
            from .. import log

            log.warning(f"cannot sweep container {sd.id[:12]}: {e}")
        finally:
            os.close(lock)
    from ..network import bridge

    bridge.sweep()
    return removed
