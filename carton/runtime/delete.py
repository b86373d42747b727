"""``delete``: remove a container and everything it owns on the host.

What it owns is what ``create`` recorded before making it: the cgroup, the
name, the network (address, ports, veth), the state directory. A running
container is refused unless ``--force``, which kills it first (all of it:
the init's death ends its PID namespace).
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import os

from .. import explain
from ..errors import CartonError
from . import hooks
from .create import kill_and_wait, wait_gone
from .state import open_state, status


def delete(root, container_id, force=False):
    sd, record = open_state(root, container_id)
    try:
        lock = sd.lock()
    except FileNotFoundError:
        return  # removed meanwhile (its foreground carton cleaned up): gone, as asked
    try:
        if not os.path.exists(sd.file("state.json")):
            return  # removed while we waited for the lock
        current = status(sd, record)
        if current in ("running", "paused", "creating") and not force:
            raise CartonError(f"cannot delete container {container_id} that is not stopped: "
                              f"{current}", 1)
        remove(sd, record, current)
    finally:
        os.close(lock)


def remove(sd, record, current):
    """Kill what is left, remove the cgroup, run poststop hooks, forget the container."""
    explain.step("remove the container", "kill what is left, then remove its cgroup, name "
                 "and state: everything it owned on the host")
    cgroup = None
    if record.get("cgroup_paths"):
        from .. import cgroups

        cgroup = cgroups.from_paths(record["cgroup_paths"])
    if current != "stopped":
        if cgroup is not None and current == "paused":
            cgroup.thaw()  # a frozen process cannot die
        kill_and_wait(record.get("pid"), record.get("start_time"))
    if cgroup is not None:
        # Processes that escaped the PID namespace's end (joined by exec, say) go too.
        if cgroup.pids():
            cgroup.kill_all(signal.SIGKILL)
            for pid in cgroup.pids():
                wait_gone(pid, timeout=5)
        cgroup.destroy()
    if os.path.exists(sd.file("network.json")):
        # Leases, published ports, the veth's host end (the bridge stays: `network prune`).
        from ..network import bridge

        bridge.release(record["id"])
    if record.get("name_link"):
        try:
            os.unlink(record["name_link"])
        except FileNotFoundError:
            pass
    sd.remove()
    for warning in hooks.run("poststop", hooks.from_record(record, "poststop"),
                             hooks.state_for(record, "stopped", 0)):
        from .. import log

        log.warning(warning)
