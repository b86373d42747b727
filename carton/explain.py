"""``carton run --explain``: narrate each setup step as it happens.

The setup of a container is a list of named steps (see ``runtime/init.py``),
and every kernel wrapper in ``carton.linux`` reports the call it is about to
make through :func:`call`. When narration is off (the default) both are a
single attribute test, so explaining costs nothing unless asked for.

Output goes straight to a file descriptor with ``os.write``: Carton forks, and
a buffered ``sys.stderr`` would print the same text twice after a fork.
"""

import os
import time

_fd = None  # where narration goes; None means "off"
_counter = None  # the step number, in a page shared by carton and every process it forks
_t0 = 0.0   # when narration began: each step shows the time since (one clock for all processes)


def enable(fd=2):
    """Turn narration on, writing to a private duplicate of ``fd``.

    A duplicate, because the container's init later replaces its fds 0-2 with
    the container's stdio (or a terminal); the narration must still reach the
    user's stderr. The duplicate is close-on-exec, so it never reaches the
    container's process.
    """
    global _fd, _t0, _counter
    import mmap

    _fd = os.dup(fd)
    os.set_inheritable(_fd, False)
    _t0 = time.monotonic()
    # Shared (MAP_SHARED|MAP_ANONYMOUS), so that carton, the helper and the init,
    # which narrate in turns, number their steps as one sequence: carton's steps
    # between create and start (the network) come between the init's own.
    _counter = mmap.mmap(-1, 8)


def enabled():
    return _fd is not None


def _write(text):
    try:
        os.write(_fd, text.encode(errors="replace"))
    except OSError:
        pass


def step(title, why):
    """Announce a setup step: what it does and, in one line, why."""
    if _fd is None:
        return
    count = steps_so_far() + 1
    _counter[:8] = count.to_bytes(8, "little")
    elapsed = (time.monotonic() - _t0) * 1000
    _write(f"\n[{count:2}] {title}  (+{elapsed:.1f} ms)\n     why: {why}\n")


def call(name, *args):
    """Report a syscall about to be made, with its arguments in C-like notation."""
    if _fd is None:
        return
    _write(f"     {name}({', '.join(_c(a) for a in args)})\n")


def note(text):
    """A plain line of narration, for things that are not a syscall."""
    if _fd is not None:
        _write(f"     {text}\n")


class Raw(str):
    """An argument shown as it is (a constant's name, an expression), not as a quoted string."""


def steps_so_far():
    """How many steps have been narrated, by any of carton's processes."""
    return int.from_bytes(_counter[:8], "little") if _counter is not None else 0


def _c(value):
    if value is None:
        return "NULL"
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_c(v) for v in value) + "]"
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        return '"' + value + '"'
    return str(value)


class Flags:
    """A flag word shown by name (``MS_BIND|MS_REC``), formatted only when narrated."""

    __slots__ = ("value", "names")

    def __init__(self, value, names):
        self.value = value
        self.names = names

    def __str__(self):
        parts, rest = [], self.value
        for bit, name in self.names:
            if bit and self.value & bit == bit:
                parts.append(name)
                rest &= ~bit
        if rest or not parts:
            parts.append(hex(rest) if parts else str(rest))
        return "|".join(parts)
