"""A ``cgroup`` mount in the container: its own view of /sys/fs/cgroup.

Mounted after the init has made its cgroup namespace, a cgroup filesystem
shows the container's own cgroup as its root. On a pure cgroup v2 host that
is one ``cgroup2`` mount. On a v1 (or hybrid) host, like runc, we mount a
tmpfs and, in it, one cgroup filesystem per hierarchy the host has mounted,
with the same controllers (``cpu``, ``memory``, ``name=systemd`` ...).
"""

import os

from ..linux import mount as m
from .paths import fd_path, make_dirs_in_root, open_in_root


def host_hierarchies(mountinfo="/proc/self/mountinfo"):
    """[(directory name, mount data)] of the host's v1 hierarchies, and whether cgroup2 is there."""
    v1, v2 = [], False
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, super_options = fields[sep + 1], fields[sep + 3]
            if fstype == "cgroup2":
                v2 = True
            elif fstype == "cgroup":
                options = [o for o in super_options.split(",") if o not in ("rw", "ro")]
                v1.append((os.path.basename(fields[4]), ",".join(options)))
    return v1, v2


def _host_dirs(cgroup_paths):
    """{hierarchy directory name: the container's directory in it} from the manager's paths."""
    result = {}
    for directory in cgroup_paths.values():
        parts = directory.split("/")
        if len(parts) > 4 and directory.startswith("/sys/fs/cgroup/"):
            result.setdefault(parts[4], directory)
    return result


def mount_cgroup(root_fd, destination, flags, cgroup_paths=None):
    """Mount the container's cgroup view at ``destination`` (inside the root).

    In a user namespace the kernel refuses to mount a v1 hierarchy; then the
    container's own directory of each is bound instead (``cgroup_paths``).
    """
    v1, v2 = host_hierarchies()
    target = make_dirs_in_root(root_fd, destination)
    try:
        if not v1:
            m.mount("cgroup2", fd_path(target), "cgroup2", flags)
            return
        m.mount("tmpfs", fd_path(target), "tmpfs", flags & ~m.MS_RDONLY, "mode=755")
    finally:
        os.close(target)
    host_dirs = _host_dirs(cgroup_paths or {})
    for name, data in v1:
        sub = make_dirs_in_root(root_fd, f"{destination}/{name}")
        try:
            try:
                m.mount("cgroup", fd_path(sub), "cgroup", flags, data)
            except PermissionError:
                if name not in host_dirs:
                    raise
                m.mount(host_dirs[name], fd_path(sub), None, m.MS_BIND | m.MS_REC)
        finally:
            os.close(sub)
    if v2:
        sub = make_dirs_in_root(root_fd, f"{destination}/unified")
        try:
            m.mount("cgroup2", fd_path(sub), "cgroup2", flags)
        finally:
            os.close(sub)
    if flags & m.MS_RDONLY:
        fd = open_in_root(root_fd, destination)
        try:
            m.mount(None, fd_path(fd), None, m.MS_REMOUNT | m.MS_BIND | flags)
        finally:
            os.close(fd)
