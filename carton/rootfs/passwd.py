"""``-u/--user``: turning ``name[:group]`` or ``uid[:gid]`` into IDs, from the rootfs's own files.

A user name means what the *container's* ``/etc/passwd`` says, not the
host's. The files are opened inside the root (RESOLVE_IN_ROOT), so an
``/etc/passwd -> /host/secret`` symlink in the rootfs reads nothing of the host.

The rules are docker's: a numeric uid need not exist in passwd (then its
gid is 0 and HOME is ``/``); supplementary groups are those whose member
list in ``/etc/group`` names the user.
"""

import os

from ..errors import CartonError
from .paths import open_in_root


class ExecUser:
    __slots__ = ("uid", "gid", "additional_gids", "home")

    def __init__(self, uid, gid, additional_gids, home):
        self.uid = uid
        self.gid = gid
        self.additional_gids = additional_gids
        self.home = home


def resolve(root_fd, spec):
    """Resolve a ``-u`` value against the rootfs opened as ``root_fd``."""
    user, _, group = spec.partition(":")
    if not user or (":" in spec and not group):
        raise CartonError(f"invalid user {spec!r}: expected NAME|UID[:GROUP|GID]")
    passwd = _read_entries(root_fd, "/etc/passwd", 7)
    groups = _read_entries(root_fd, "/etc/group", 4)

    entry = _find(passwd, user)
    if entry is not None:
        name, uid, gid, home = entry[0], int(entry[2]), int(entry[3]), entry[5] or "/"
    elif user.isdigit():
        name, uid, gid, home = None, int(user), 0, "/"
    else:
        raise CartonError(f"unable to find user {user}: no matching entries in the container's "
                          "/etc/passwd")

    if group:
        g = _find(groups, group)
        if g is not None:
            gid = int(g[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise CartonError(f"unable to find group {group}: no matching entries in the "
                              "container's /etc/group")

    extra = []
    if name is not None:
        for g in groups:
            members = g[3].split(",") if g[3] else []
            if name in members and g[2].isdigit() and int(g[2]) not in extra:
                extra.append(int(g[2]))
    if _out_of_range(uid) or _out_of_range(gid):
        raise CartonError(f"invalid user {spec!r}: ids must be below 2^32-1")
    return ExecUser(uid, gid, extra, home)


def _out_of_range(n):
    return n >= 0xFFFFFFFF


def _find(entries, key):
    """The entry whose name is ``key``, else (for a number) the first whose id is ``key``."""
    for e in entries:
        if e[0] == key:
            return e
    if key.isdigit():
        for e in entries:
            if e[2] == key:
                return e
    return None


def _read_entries(root_fd, path, fields):
    try:
        fd = open_in_root(root_fd, path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise CartonError(f"cannot read the container's {path}: {e.strerror}") from None
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        entries = []
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            if len(parts) < fields or not parts[2].isdigit():
                continue  # a malformed line is skipped, as libc does
            entries.append(parts)
        return entries
