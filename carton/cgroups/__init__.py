"""Cgroups: the kernel's way to group a container's processes, pause them, limit them, count them.

The runtime uses one small interface, whatever the machine has::

    from carton import cgroups
    mgr = cgroups.manager(spec.linux.cgroups_path, container_id)
    record["cgroup_paths"] = mgr.paths     # record before create (DESIGN.md §6)
    mgr.create()                           # mkdir, parents too; idempotent
    mgr.add(init_pid)                      # into cgroup.procs, in every hierarchy
    warnings = mgr.apply(resources)        # linux.resources; show the warnings
    mgr.devices_enforced                   # False: v2 could not attach its device filter
    mgr.apply(resources, devices=False)    # `update`: leave a running container's device rules
    mgr.freeze(); mgr.thaw(); mgr.frozen() # pause / resume
    mgr.pids(); mgr.kill_all(signal.SIGKILL)
    mgr.destroy()                          # rmdir, deepest first; kills nothing
    mgr.stats()                            # runc events --stats shaped
    mgr.oom_count()                        # processes the OOM killer took (None: unknown)

    cgroups.from_paths(record["cgroup_paths"])   # the same manager, in another process

Which driver is used is decided by what the kernel shows (``detect.py``),
never by a setting: ``v1.Manager`` on v1 and hybrid machines,
``v2.Manager`` on unified (v2) ones. Where the container's cgroup goes is
``paths.py``; what ``apply`` accepts, and which file each field of
``linux.resources`` goes to, is ``resources.py``; ``writes.py`` applies them
(every file checked before the first write); ``devices_bpf.py`` turns the
device rules into v2's eBPF program; ``stats.py`` reads counters.
``check(resources, version)`` validates without touching anything.

``manager()`` only reads two small files in ``/proc``, and this package
imports nothing beyond ``os``, ``errno``, ``signal`` and ``time``: it runs
on every container start.
"""

from .detect import read_mounts, read_own_cgroups
from .paths import inner_path, resolve
from .resources import check


def manager(cgroups_path, container_id):
    """The manager for a container's cgroup. Nothing is created until ``create()``.

    ``cgroups_path`` is the spec's ``linux.cgroupsPath`` (may be empty or
    None: the container's id, relative to Carton's own cgroup, as runc does).
    """
    inner = inner_path(cgroups_path, container_id)
    mounts = read_mounts()
    paths = resolve(inner, mounts, read_own_cgroups())
    return from_paths(paths)


def from_paths(paths):
    """Rebuild a manager from the ``paths`` recorded in ``state.json``.

    ``{"unified": dir}`` alone is a v2 container; anything else (controller
    names, with or without ``"unified"``) is v1 or hybrid; nothing at all, a
    container that has no cgroup (``none.py``).
    """
    paths = dict(paths or {})
    if not paths:  # made where cgroups were not writable (none.py)
        from .none import Manager
    elif set(paths) == {"unified"}:
        from .v2 import Manager
    else:
        from .v1 import Manager
    return Manager(paths)


__all__ = ["manager", "from_paths", "check"]
