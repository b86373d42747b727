"""A ``cgroup`` mount in the container: its own view of /sys/fs/cgroup.

Mounted after the init has made its cgroup namespace, a cgroup filesystem
shows the container's own cgroup as its root. On a pure cgroup v2 host that
is one ``cgroup2`` mount. On a v1 (or hybrid) host, like runc, we mount a
tmpfs and, in it, one entry per hierarchy the host has mounted (``cpu``,
``memory``, ``name=systemd``, ``unified`` ...): a bind mount of the
container's own directory in that hierarchy, which shows exactly what a
cgroup mount in the container's cgroup namespace would. Binds, as runc
does on v1, because a fresh mount can be slow: a ``cgroup2`` mount rooted at
a new cgroup costs 10-15 ms (the kernel making a superblock for it), a bind
0.02 ms. On a v2-only host the same: the container's directory, bound. A
hierarchy whose directory we do not know gets a real cgroup mount.
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


def view_dirs(cgroup_paths, own_cgroup="/proc/self/cgroup"):
    """The container's directory in every hierarchy, to bind: its cgroup's own ``paths``,
    and, on a hybrid host, the cgroup2 directory it shares with carton when it has none of
    its own there. Called before the cgroup namespace exists, while /proc/self/cgroup
    still shows paths from the host's root."""
    dirs = dict(cgroup_paths or {})
    if dirs and "unified" not in dirs and os.path.isdir("/sys/fs/cgroup/unified"):
        with open(own_cgroup) as f:
            for line in f:
                if line.startswith("0::"):
                    dirs["unified"] = "/sys/fs/cgroup/unified" + line[3:].strip().rstrip("/")
    return dirs


def _bind(source, target_fd):
    """Bind ``source`` on the target; False if the kernel refuses because the host's
    hierarchy is unbindable here (``rootfsPropagation: runbindable`` made it so)."""
    import errno

    try:
        m.mount(source, fd_path(target_fd), None, m.MS_BIND | m.MS_REC)
        return True
    except OSError as e:
        if e.errno == errno.EINVAL:
            return False
        raise


def _remount_bind(root_fd, path, flags):
    """Give a bind mount the cgroup mount's flags (read-only...): a bind takes them only
    from a remount, made through a new fd, as the old one is the directory under the mount."""
    if not flags & m.MS_RDONLY:
        return
    top = open_in_root(root_fd, path)
    try:
        m.mount(None, fd_path(top), None, m.MS_REMOUNT | m.MS_BIND | flags)
    finally:
        os.close(top)


def mount_cgroup(root_fd, destination, flags, cgroup_paths=None):
    """Mount the container's cgroup view at ``destination`` (inside the root).

    ``cgroup_paths``: the container's directory in each hierarchy (``view_dirs``).
    """
    v1, v2 = host_hierarchies()
    target = make_dirs_in_root(root_fd, destination)
    try:
        if not v1:  # cgroup v2 only: the container's own directory is the whole view
            source = (cgroup_paths or {}).get("unified")
            if source and _bind(source, target):
                _remount_bind(root_fd, destination, flags)
            else:
                m.mount("cgroup2", fd_path(target), "cgroup2", flags)
            return
        m.mount("tmpfs", fd_path(target), "tmpfs", flags & ~m.MS_RDONLY, "mode=755")
    finally:
        os.close(target)
    host_dirs = _host_dirs(cgroup_paths or {})
    for name, data in v1 + ([("unified", None)] if v2 else []):
        sub = make_dirs_in_root(root_fd, f"{destination}/{name}")
        try:
            if name in host_dirs and _bind(host_dirs[name], sub):
                _remount_bind(root_fd, f"{destination}/{name}", flags)
            elif name == "unified":
                m.mount("cgroup2", fd_path(sub), "cgroup2", flags)
            else:
                m.mount("cgroup", fd_path(sub), "cgroup", flags, data)
        finally:
            os.close(sub)
    if flags & m.MS_RDONLY:
        fd = open_in_root(root_fd, destination)
        try:
            m.mount(None, fd_path(fd), None, m.MS_REMOUNT | m.MS_BIND | flags)
        finally:
            os.close(fd)
