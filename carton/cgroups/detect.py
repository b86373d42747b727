"""Which cgroup layout this machine has: v1, hybrid or v2, read from the kernel's own lists.

Two files tell us everything, and Carton never takes the answer from a
configuration setting:

* ``/proc/self/mountinfo`` lists the cgroup filesystems mounted here. A
  **v1** hierarchy is a mount of type ``cgroup`` whose options name the
  controllers it carries (``rw,memory`` or ``rw,cpu,cpuacct``) or a name
  (``name=systemd``: a hierarchy with no controller, used by systemd to track
  processes). A **v2** hierarchy is a single mount of type ``cgroup2``.
* ``/proc/self/cgroup`` says which cgroup *this process* is in, in each
  hierarchy: ``4:memory:/user.slice`` for v1, ``0::/user.slice`` for v2.
  Relative ``cgroupsPath`` values are resolved against it (see ``paths.py``).

The layouts:

``v1``      only ``cgroup`` mounts (older distributions).
``hybrid``  ``cgroup`` mounts carry the controllers, and a ``cgroup2`` mount
            (usually ``/sys/fs/cgroup/unified``) sits beside them with few or
            no controllers (systemd's default for years).
``v2``      ``cgroup2`` carries the controllers ("unified"). A stray v1
            hierarchy with no real controller (``name=...``, or ``net_cls``
            mounted by a VPN tool) does not make a machine hybrid.

A v2 manager later reads ``cgroup.controllers`` to learn which controllers it
can enable; the choice of layout comes from the mounts alone.
"""

# Controllers a v1 hierarchy can carry (``/proc/cgroups``). Mount options that
# are not in this list and do not start with ``name=`` are plain mount options
# (``rw``, ``xattr``, ``clone_children``, ``release_agent=...``).
V1_CONTROLLERS = frozenset((
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
    "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc", "debug",
))

# Controllers a container runtime depends on. If any is mounted as v1, the
# machine is run as v1 (or hybrid), as runc does.
CORE = frozenset(("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"))

MOUNTINFO = "/proc/self/mountinfo"
OWN_CGROUP = "/proc/self/cgroup"


class Mount:
    """One mounted cgroup hierarchy.

    ``point`` is where it is mounted, ``root`` the cgroup that appears at the
    mount point (``/`` unless a subtree was bind-mounted, as in containers
    without a cgroup namespace), ``version`` 1 or 2, and ``controllers`` the
    v1 controllers and ``name=`` of a v1 hierarchy (empty for v2).
    """

    __slots__ = ("point", "root", "version", "controllers")

    def __init__(self, point, root, version, controllers=()):
        self.point = point
        self.root = root
        self.version = version
        self.controllers = tuple(controllers)

    @property
    def key(self):
        """What identifies the hierarchy in ``/proc/<pid>/cgroup``: its set of controllers."""
        return frozenset(self.controllers)

    def __repr__(self):
        return f"Mount({self.point!r}, root={self.root!r}, v{self.version}, {','.join(self.controllers)})"


def _unescape(field):
    r"""mountinfo writes space, tab, newline and backslash in paths as ``\040`` and so on."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text):
    """The cgroup mounts in a mountinfo text, in mount order (see ``proc_pid_mountinfo(5)``).

    A line is ``id parent major:minor root mount-point options [optional...]
    - fstype source super-options``; the ``-`` separates the variable part.
    """
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        if tail[0] == "cgroup2":
            mounts.append(Mount(point, root, 2))
            continue
        controllers = [o for o in tail[2].split(",") if o in V1_CONTROLLERS or o.startswith("name=")]
        if controllers:
            mounts.append(Mount(point, root, 1, controllers))
    return mounts


def parse_proc_cgroup(text):
    """``/proc/<pid>/cgroup`` as a dict: hierarchy key (frozenset of controllers) -> cgroup path.

    The v2 line (``0::/path``) has the empty set as its key.
    """
    result = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers = frozenset(c for c in parts[1].split(",") if c)
        result[controllers] = parts[2]
    return result


def _preferred(mounts):
    """Mounts under /sys/fs/cgroup first (a hierarchy can also be bind-mounted elsewhere)."""
    return sorted(mounts, key=lambda m: not (m.point == "/sys/fs/cgroup" or
                                             m.point.startswith("/sys/fs/cgroup/")))


def hierarchies(mounts):
    """Each v1 hierarchy once, and the one cgroup2 mount to use (or ``None``)."""
    v1, seen = [], set()
    for m in _preferred(mounts):
        if m.version == 1 and m.key not in seen:
            seen.add(m.key)
            v1.append(m)
    v2 = [m for m in _preferred(mounts) if m.version == 2]
    exact = [m for m in v2 if m.point == "/sys/fs/cgroup"]
    return v1, (exact or v2 or [None])[0]


def layout(mounts):
    """``"v1"``, ``"hybrid"``, ``"v2"``, or ``None`` when no cgroup filesystem is mounted."""
    v1, v2 = hierarchies(mounts)
    if any(CORE.intersection(m.controllers) for m in v1):
        return "hybrid" if v2 is not None else "v1"
    return "v2" if v2 is not None else None


def read_mounts():
    with open(MOUNTINFO) as f:
        return parse_mountinfo(f.read())


def read_own_cgroups():
    with open(OWN_CGROUP) as f:
        return parse_proc_cgroup(f.read())
