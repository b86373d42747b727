"""Reading and writing cgroup files, with errors a person can act on.

A cgroup is a directory, and everything about it is a small text file in
that directory: ``cgroup.procs`` (its processes), ``pids.max`` (a limit),
``freezer.state`` (paused or not). So the whole cgroup layer is reads,
writes, ``mkdir`` and ``rmdir``, and this file is where they fail: every
``OSError`` becomes a :class:`CartonError` with one line that names the file,
e.g. ``cannot write /sys/fs/cgroup/pids/web/pids.max: Permission denied
(no cgroup delegation?)``.
"""

import errno
import os
import time

from ..errors import CartonError


def hint_for(error, value=None):
    """A short guess at the cause of a failed cgroup file operation, or ``""``."""
    code = error.errno
    if code in (errno.EACCES, errno.EPERM):
        return "no cgroup delegation?" if os.geteuid() == 0 else "not running as root, no cgroup delegation?"
    if code == errno.EROFS:
        return "the cgroup filesystem is mounted read-only"
    if code == errno.EINVAL and value is not None:
        return f"the kernel refused the value {value.strip()!r}"
    return ""


class FileError(CartonError):
    """A :class:`CartonError` from a cgroup file operation, keeping the ``errno``.

    Callers that know what to do about one errno (retry a write in another
    order after ``EINVAL``) look at it; everyone else just shows the message.
    """

    def __init__(self, message, errno=None):
        super().__init__(message)
        self.errno = errno


def failure(verb, path, error, hint=None, value=None):
    """The :class:`FileError` for ``verb`` (``read``, ``write``...) failing on ``path``.

    ``hint`` is a text for any error, or a dict ``{errno: text}`` for the
    errors the caller knows the meaning of in this place (``EBUSY`` on
    ``cgroup.procs`` means something different from ``EBUSY`` on ``rmdir``).
    """
    if isinstance(hint, dict):
        hint = hint.get(error.errno)
    hint = hint or hint_for(error, value)
    message = f"cannot {verb} {path}: {error.strerror or error}"
    return FileError(message + (f" ({hint})" if hint else ""), error.errno)


def read(path, hint=None):
    """The text of a cgroup file."""
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise failure("read", path, e, hint) from None


def read_int(path, default=None):
    """A file holding one number (``max`` reads as ``None``); ``default`` when it is missing."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return default
    except OSError as e:
        raise failure("read", path, e) from None
    return None if text == "max" else int(text)


def read_keyed(path):
    """A ``key value`` per line file (``memory.stat``, ``cpu.stat``) as a dict; ``{}`` when missing."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise failure("read", path, e) from None
    result = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            result[key] = int(value)
    return result


def write(path, value, hint=None):
    """Write ``value`` to a cgroup file in one ``write(2)``, as the kernel expects.

    ``os.open`` without ``O_CREAT``: a cgroup file that is not there means a
    controller that is not enabled, and that should say "No such file", not
    try to create one.
    """
    data = str(value).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        raise failure("write", path, e, hint, str(value)) from None


def exists(path):
    return os.path.exists(path)


def makedirs(path):
    """``mkdir -p``: the cgroup and any missing parents. Already there is fine."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise failure("create the cgroup", path, e) from None


def procs(path):
    """PIDs listed in one cgroup's ``cgroup.procs`` (not its children's); ``[]`` if it is gone."""
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(line) for line in f.read().split()]
    except FileNotFoundError:
        return []
    except OSError as e:
        if e.errno in (errno.ENODEV, errno.EOPNOTSUPP):  # gone mid-read; threaded cgroup (v2)
            return []
        raise failure("read", os.path.join(path, "cgroup.procs"), e) from None


def subtree(path):
    """``path`` and every cgroup below it, parents before children; ``[]`` if it is gone."""
    if not os.path.isdir(path):
        return []
    found = [path]
    for top, dirs, _ in os.walk(path):
        found.extend(os.path.join(top, d) for d in dirs)
    return found


def all_procs(path):
    """PIDs in ``path`` and in every cgroup below it, each once, in order."""
    seen, result = set(), []
    for cgroup in subtree(path):
        for pid in procs(cgroup):
            if pid not in seen:
                seen.add(pid)
                result.append(pid)
    return result


def remove_tree(path, deadline):
    """``rmdir`` a cgroup and every cgroup below it, deepest first.

    A cgroup directory can only be removed once it has no processes and no
    children (its files are not real files and go with it). Processes that
    were just killed can take a moment to leave, so ``EBUSY`` is retried
    until ``deadline`` (a ``time.monotonic()`` value). A cgroup that is
    already gone is fine: ``delete`` must work after a half-finished create.
    """
    try:
        os.rmdir(path)  # the usual case: no cgroup below it, no process left
        return
    except FileNotFoundError:
        return
    except OSError:
        pass  # children to remove first, or processes still leaving: the careful way
    for cgroup in reversed(subtree(path)):
        delay = 0.002
        while True:
            try:
                os.rmdir(cgroup)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno == errno.EBUSY and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
                    continue
                hint = None
                if e.errno == errno.EBUSY:
                    left = all_procs(cgroup)
                    hint = (f"processes still in it: {' '.join(map(str, left[:8]))}" if left
                            else "it is still busy")
                raise failure("remove the cgroup", cgroup, e, hint) from None
