"""Loading libc, and turning a failed call into an error a person can act on.

Every wrapper in ``carton.linux`` calls the kernel through the ``libc`` handle
below (``cdata.py``: ctypes' C types without ctypes' import cost; errno kept)
and, when the call fails, raises
an ``OSError`` that also names the syscall, the path it
was about and, where we know one, a hint. So instead of ``[Errno 1]`` a user
reads ``mount: Operation not permitted (making namespaces needs root, ...)``, and the
step that failed names what it was doing (``mount proc on /proc``).
"""

import os

from . import cdata

libc = cdata.Library(None)

# syscall(2) takes and returns C longs; declaring it once keeps 64-bit
# arguments (pointers, flag words) from being truncated to int.
_syscall = libc.syscall
_syscall.restype = cdata.c_long


def syscall_error(errno_, syscall, path=None, hint=None):
    """An ``OSError`` for a failed syscall, carrying ``.syscall`` and ``.hint``.

    Built through ``OSError(errno, ...)`` so Python picks the usual subclass
    (``FileNotFoundError`` for ENOENT, ``PermissionError`` for EPERM...), and
    callers can catch those as with any ``os`` function.
    """
    error = OSError(errno_, os.strerror(errno_), path)
    error.syscall = syscall
    error.hint = hint
    return error


def describe(error):
    """One line for a person: ``mount /proc: Operation not permitted (hint)``."""
    syscall = getattr(error, "syscall", None)
    if syscall is None:
        return error.strerror or str(error)
    hint = getattr(error, "hint", None)
    return f"{syscall}: {error.strerror}" + (f" ({hint})" if hint else "")


def check(result, syscall, path=None, hint=None):
    """Raise :func:`syscall_error` from ``errno`` when a libc call returned -1."""
    if result == -1:
        raise syscall_error(cdata.get_errno(), syscall, path, hint)
    return result


def syscall(number, *args):
    """Call a raw syscall by number (for calls glibc 2.36 has no wrapper for)."""
    return _syscall(number, *args)


def fsencode(path):
    """Paths go to the kernel as bytes; ``None`` stays a NULL pointer."""
    return None if path is None else os.fsencode(path)
