"""Where a container's cgroup goes: the spec's ``linux.cgroupsPath``, resolved as runc does.

These are runc's rules with its default ``cgroupfs`` driver (read in runc's
``libcontainer/specconv`` and ``libcontainer/cgroups/fs``, ``fs2``; our own
code):

* The path is cleaned first, so it cannot climb out of the hierarchy:
  ``/a/../../b`` is ``/b``, and a relative ``../../b`` is ``b``.
* **Absolute** (``/default/web``, as ctr passes; ``/libpod_parent/libpod-<id>``,
  as podman passes): the same path under the mount point of every hierarchy,
  ``/sys/fs/cgroup/memory/default/web``...
* **Relative** (``a/b``): below the cgroup the *calling process* is in
  (``/proc/self/cgroup``), in each hierarchy. On v2 runc goes one level up
  first, to the *parent* of its own cgroup, because its own cgroup already
  holds processes (itself), and v2 forbids a cgroup that has processes from
  handing controllers to children. We do the same.
* **Empty** (no ``cgroupsPath``): the container's id, as a *relative* path.
  runc sets the cgroup's name to the id and leaves the path empty, and a bare
  name is relative, so ``runc run web`` from a shell in ``/user.slice`` makes
  ``/sys/fs/cgroup/memory/user.slice/web`` on v1, and on v2 a sibling of the
  shell's own cgroup. It is *not* ``/<id>`` at the root.
* **systemd style** (``system.slice:docker:web``) needs runc's
  ``--systemd-cgroup`` driver, which talks to systemd over D-Bus. Carton does
  not have it yet and says so.

A path that would land on the root of a hierarchy (``/``), or on Carton's own
cgroup (``.``), is refused: the container could not be removed without
removing what it shares.
"""

import os

from ..errors import CartonError
from .detect import hierarchies, layout


def is_systemd_style(cgroups_path):
    """``slice:prefix:name`` (runc's systemd driver format), as opposed to a cgroupfs path."""
    return not cgroups_path.startswith("/") and cgroups_path.count(":") == 2


def clean(path):
    """runc's ``CleanPath``: resolve ``.`` and ``..`` lexically; never above ``/`` or the start."""
    if not path:
        return ""
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    joined = "/".join(parts)
    if path.startswith("/"):
        return "/" + joined
    return joined or "."


def inner_path(cgroups_path, container_id):
    """The cleaned path to place the container at: absolute, or relative to our own cgroup."""
    if cgroups_path and is_systemd_style(cgroups_path):
        raise CartonError(f"cgroupsPath {cgroups_path!r} is a systemd cgroup path: systemd cgroup paths "
                          "need --systemd-cgroup, which is not supported yet")
    inner = clean(cgroups_path) if cgroups_path else clean(container_id)
    if inner in ("/", "."):
        what = "the root of the cgroup hierarchy" if inner == "/" else "carton's own cgroup"
        raise CartonError(f"cgroupsPath {cgroups_path!r} would put the container in {what}; "
                          "name a cgroup of its own")
    return inner


def _own_in_mount(mount, own):
    """This process's cgroup as a path below the mount point (``/proc/self/cgroup`` is
    relative to the hierarchy's root, the mount may show only a subtree of it)."""
    root = mount.root.rstrip("/")
    if own != root and not own.startswith(root + "/"):
        raise CartonError(f"cannot resolve a relative cgroupsPath: this process's cgroup {own} is not "
                          f"inside the hierarchy mounted at {mount.point}; use an absolute cgroupsPath")
    return own[len(root):] or "/"


def _join(point, *parts):
    path = point.rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            path += "/" + part
    return path


def _place(mount, inner, own_cgroups, parent_of_own=False):
    if inner.startswith("/"):
        return _join(mount.point, inner)
    own = own_cgroups.get(mount.key)
    if own is None:
        raise CartonError(f"cannot resolve a relative cgroupsPath: /proc/self/cgroup has no entry for "
                          f"the hierarchy mounted at {mount.point}")
    own = _own_in_mount(mount, own)
    if parent_of_own:
        own = os.path.dirname(own)
    return _join(mount.point, own, inner)


def resolve(inner, mounts, own_cgroups):
    """The ``paths`` dict for a container at ``inner``: controller (or ``"unified"``) -> directory.

    ``mounts`` is :func:`detect.parse_mountinfo` output, ``own_cgroups`` is
    :func:`detect.parse_proc_cgroup` output; both are passed in so that this is
    pure logic, testable with sample text.

    v1: one entry per controller (``cpu`` and ``cpuacct`` share a directory
    when mounted together) and per named hierarchy (``name=systemd``).
    Hybrid: the same, plus ``"unified"`` for the cgroup2 mount. runc (since
    1.1) also puts the container there in hybrid mode, so that systemd, which
    tracks processes through that hierarchy, sees it. One difference: for a
    *relative* path runc uses the root of that mount, we use our own cgroup
    in it, as in every other hierarchy (so it matches ``name=systemd``).
    v2: ``"unified"`` only.
    """
    kind = layout(mounts)
    if kind is None:
        raise CartonError("no cgroup filesystem is mounted (see /proc/self/mountinfo)")
    v1, v2 = hierarchies(mounts)
    if kind == "v2":
        return {"unified": _place(v2, inner, own_cgroups, parent_of_own=True)}
    paths = {}
    for mount in v1:
        directory = _place(mount, inner, own_cgroups)
        for controller in mount.controllers:
            paths[controller] = directory
    if kind == "hybrid":
        paths["unified"] = _place(v2, inner, own_cgroups)
    return paths
