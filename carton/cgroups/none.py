"""No cgroup at all: where the cgroup file systems cannot be written (no delegation).

Inside another container, or under a service manager that did not delegate
a subtree, ``/sys/fs/cgroup`` is read-only or not ours. A container without
limits can still run there, as with runc: it simply stays in the caller's
cgroup. This manager says so in every operation that needs a cgroup of the
container's own (pause, stats, update), and does nothing where nothing is
needed (create, join, destroy). Its ``paths`` are empty, and that is what
``state.json`` records, so every later command knows.
"""

from ..errors import CartonError

HOW_TO_GET_ONE = ("run Carton where it may write the cgroup tree (as root on the host), or "
                  "delegate a cgroup subtree to it (systemd: Delegate=yes; docker/podman: "
                  "--cgroupns=private with a writable /sys/fs/cgroup)")


class Manager:
    version = 0
    devices_enforced = False  # no devices controller: the runtime confines devices otherwise
    paths = {}

    def __init__(self, paths=None, reason="cgroups are not writable here"):
        self.reason = reason

    def _refuse(self, what):
        raise CartonError(f"cannot {what}: the container has no cgroup of its own "
                          f"({self.reason})", 1)

    def create(self):
        pass

    def join_self(self):
        pass

    def add(self, pid):
        pass

    def apply(self, resources, devices=True):
        return []

    def destroy(self):
        pass

    def pids(self):
        return []

    def kill_all(self, sig):
        pass

    def frozen(self):
        return False

    def freeze(self):
        self._refuse("pause it")

    def thaw(self):
        self._refuse("resume it")

    def stats(self):
        self._refuse("read its statistics")

    def oom_count(self):
        return None


def limits_in(resources):
    """The ``linux.resources`` fields that need a cgroup (device rules do not: see create.py)."""
    return sorted(k for k, v in (resources or {}).items() if k != "devices" and v not in (None, {}, []))
