"""Helpers shared by the test suites: where `carton` is, and the leak check's snapshots.

A module of its own (not conftest.py) so that test files can import it: every
test directory has a conftest.py, and `from conftest import ...` would pick
whichever was imported first.
"""

import os
import shutil
import sys

CARTON = os.path.join(os.path.dirname(sys.executable), "carton")


# -- the leak check -----------------------------------------------------------------


def _mount_points():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _cgroups():
    found = set()
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        depth = top.count("/") - "/sys/fs/cgroup".count("/")
        if depth >= 4:
            dirs[:] = []
        for d in dirs:
            if "carton" in d:
                found.add(os.path.join(top, d))
    return found


def _links():
    return set(os.listdir("/sys/class/net"))


def _pid_namespace(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _foreign_processes():
    """Orphaned processes in PID namespaces other than ours: containers whose runtime is gone.

    Only orphans (parent PID 1) and our own descendants count, so containers
    that another program on the machine is running do not look like our leaks.
    """
    own = _pid_namespace("self")
    mine = set(descendants(os.getpid()))
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ns = _pid_namespace(entry)
            if ns and ns != own and (int(entry) in mine or _ppid(entry) == 1):
                found.add((int(entry), ns))
    return found


def descendants(pid):
    """PIDs of live (non-zombie) descendants of ``pid``."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    result, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            result.append(child)
            todo.append(child)
    return result


def _nft_tables():
    """Carton's nftables tables (``carton``, ``carton-test-...``), via the nft command."""
    import subprocess

    if not have("nft"):
        return set()
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines() if " carton" in line}


def _network_leases():
    """Addresses and ports that Carton's network store still hands out."""
    import json

    path = os.path.join(os.environ.get("CARTON_NETWORK_DIR") or "/run/carton-network",
                        "state.json")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return set()
    found = {f"{net}:{ip}" for net, rec in data.get("networks", {}).items()
             for ip in rec.get("leases", {})}
    found |= {f"port {p['host_port']}/{p['proto']}" for p in data.get("ports", [])}
    if "forwarding_was" in data:
        found.add("ip_forward turned on by carton")
    return found


def _ip_forward():
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        return {"ip_forward=" + f.read().strip()}


def snapshot():
    return {"mounts": _mount_points(), "cgroups": _cgroups(), "links": _links(),
            "processes": _foreign_processes(), "nft tables": _nft_tables(),
            "network leases": _network_leases(), "sysctl": _ip_forward()}


def settled_snapshot(before, timeout=3.0):
    """A snapshot taken once no link is left that was not there ``before`` (or at ``timeout``)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        after = snapshot()
        if not after["links"] - before["links"] or time.monotonic() > deadline:
            return after
        time.sleep(0.05)


def leaks(before, after):
    found = {}
    for key in before:
        new = after[key] - before[key]
        if new:
            found[key] = sorted(new)
    return found


def leftover_state(root):
    """Container state left in ``root``: any entry but an empty ``.names`` directory (and
    ``.cache``, compiled seccomp filters kept for the next container)."""
    if not os.path.isdir(root):
        return []
    left = [e for e in os.listdir(root) if e not in (".names", ".cache")]
    names = os.path.join(root, ".names")
    if os.path.isdir(names):
        left += [f".names/{n}" for n in os.listdir(names)]
    return left


def have(program):
    return shutil.which(program) is not None


# -- small helpers the test files share ---------------------------------------------------


def wait_for(predicate, what="a condition", timeout=15, interval=0.05):
    """Poll ``predicate`` until it returns something true, and return that; fail after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def ok(done):
    """A finished subprocess that must have succeeded; its output in the failure otherwise."""
    assert done.returncode == 0, f"exit status {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def children(pid):
    """The PIDs of ``pid``'s children (/proc/PID/task/PID/children); [] if it is gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []
