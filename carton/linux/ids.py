"""User and group IDs: setgroups(2), setresgid(2), setresuid(2).

Why: the container's process runs as the user the config names (``-u``).
Order matters: groups first, then the group ID, then the user ID last,
because once we are no longer root we may not change the others.
"""

import os

from .. import explain


def setgroups(gids):
    """Set the supplementary group list. setgroups(2)."""
    explain.call("setgroups", len(gids), list(gids))
    os.setgroups(gids)


def setresgid(gid):
    """Set real, effective and saved group IDs. setresgid(2)."""
    explain.call("setresgid", gid, gid, gid)
    os.setresgid(gid, gid, gid)


def setresuid(uid):
    """Set real, effective and saved user IDs. setresuid(2).

    For root in the initial user namespace, switching to another uid also
    clears the effective and permitted capability sets (capabilities(7),
    "Effect of user ID changes on capabilities").
    """
    explain.call("setresuid", uid, uid, uid)
    os.setresuid(uid, uid, uid)


def write_id_map(pid, kind, mappings):
    """Write a user namespace's ``uid_map`` or ``gid_map``. See user_namespaces(7).

    Why: a new user namespace starts with no IDs mapped; each line maps a
    range of IDs inside it onto IDs outside: ``containerID hostID size``.
    Root outside may write any mapping, once, from outside the namespace.
    """
    path = f"/proc/{pid}/{kind}_map"
    text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)
    explain.call("write", path, text.strip().replace("\n", "; "))
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
