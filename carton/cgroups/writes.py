"""Applying limits as a list of writes: every file is checked before the first is written.

A driver turns ``linux.resources`` into a list of :class:`Write` (this field,
this file, this value) and hands it to :func:`run`, which

1. checks that every file is there, so that a missing controller or an
   unsupported knob (``memory.memsw.limit_in_bytes`` without swap accounting,
   ``blkio.weight`` without a scheduler that has weights) is an error that
   names the field and the file, *before* anything has changed;
2. writes them in the driver's order;
3. retries, once, at the end, the writes the kernel refused with ``EINVAL``
   that are marked ``retry``. Some pairs of files must stay consistent at
   every moment (``cpu.cfs_period_us`` and ``cpu.cfs_quota_us`` within the
   parent's bandwidth; ``memory.limit_in_bytes`` below
   ``memory.memsw.limit_in_bytes``), so which one can go first depends on the
   old values. runc does the same: try, and on ``EINVAL`` write the other one
   first.
"""

import errno
import os

from ..errors import CartonError
from . import files


class Write:
    """One value for one cgroup file, and what to say when it cannot be done.

    ``field``      the spec's name for it (``linux.resources.cpu.shares``), for errors.
    ``missing``    why the file may not exist (text, or a function of the path).
    ``hint``       ``{errno: text}`` for write errors (see :func:`files.failure`).
    ``retry``      on ``EINVAL``, try again after the other writes.
    ``if_exists``  skip it quietly when the file is not there: only for values that
                   change nothing (no swap limit without swap accounting, say).
    ``prepare``    called before the file is checked (enable a controller first).
    """

    __slots__ = ("field", "path", "value", "missing", "hint", "retry", "if_exists", "prepare")

    def __init__(self, field, path, value, missing=None, hint=None, retry=False, if_exists=False,
                 prepare=None):
        self.field = field
        self.path = path
        self.value = value
        self.missing = missing
        self.hint = hint
        self.retry = retry
        self.if_exists = if_exists
        self.prepare = prepare

    def __repr__(self):
        return f"Write({self.field!r}, {self.path!r}, {self.value!r})"

    def missing_error(self):
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            return CartonError(f"cannot set {self.field}: the cgroup {directory} does not exist")
        why = self.missing(self.path) if callable(self.missing) else self.missing
        message = f"cannot set {self.field}: {self.path} does not exist"
        return CartonError(message + (f" ({why})" if why else ""))


def run(writes):
    """Check every file, then write them in order (see the module's docstring)."""
    for w in writes:
        if w.prepare is None and not w.if_exists and not os.path.exists(w.path):
            raise w.missing_error()
    prepared = set()
    for w in writes:
        if w.prepare is not None:
            if w.prepare not in prepared:
                w.prepare()
                prepared.add(w.prepare)
            if not w.if_exists and not os.path.exists(w.path):
                raise w.missing_error()
    later = []
    for w in writes:
        if w.if_exists and not os.path.exists(w.path):
            continue
        try:
            files.write(w.path, w.value, w.hint)
        except files.FileError as e:
            if w.retry and e.errno == errno.EINVAL:
                later.append(w)
                continue
            raise CartonError(f"cannot set {w.field}: {e}") from None
    for w in later:
        try:
            files.write(w.path, w.value, w.hint)
        except files.FileError as e:
            raise CartonError(f"cannot set {w.field}: {e}") from None


def joiner(directory):
    """``path("memory.max")`` for ``os.path.join(directory, "memory.max")``."""
    return lambda name: os.path.join(directory, name)


def check_usage(usage_file, limit):
    """``memory.checkBeforeUpdate``: refuse a memory limit at or below what the container uses now.

    On v1 the kernel would try to reclaim and then refuse (``EBUSY``); on v2
    it would reclaim and then OOM-kill. A usage that cannot be read (no
    cgroup yet) passes, as in runc: the check is a courtesy, not a guarantee.
    """
    try:
        usage = files.read_int(usage_file)
    except CartonError:
        return
    if usage is not None and usage >= limit:
        raise CartonError(f"cannot set linux.resources.memory.limit to {limit}: the container already uses "
                          f"{usage} bytes (memory.checkBeforeUpdate)")
