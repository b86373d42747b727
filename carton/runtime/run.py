"""A foreground run: create, start, wait, delete — the life of ``carton run``.

The same ``create`` and ``start`` that ``carton create`` and ``carton start``
use, in one process that stays attached: it forwards signals, relays the
terminal, waits for the init and leaves with its exit status. Whatever
happens, the container is deleted at the end: no directory, cgroup, mount or
process remains.
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import os

from ..errors import EXIT_CARTON, CartonError
from . import attach
from .create import create, kill_and_wait
from .delete import remove
from .start import release


def run_foreground(root, container_id, spec, opts, interactive=False, detach=False):
    """Run ``spec`` as container ``container_id``; return the exit code to leave with."""
    if not interactive and not detach:
        _stdin_from_devnull()
    opts.foreground = not detach
    # Signals meant for the container wait (blocked) until its command runs. While
    # it is being made, a SIGTERM would kill carton half-way and leave the container
    # behind; sent on to the init before the command runs, it would be lost: PID 1
    # of a PID namespace ignores every signal it has no handler for, and Carton's
    # init has none. Unblocked after start, a pending signal goes to the command.
    signal.pthread_sigmask(signal.SIG_BLOCK, attach.FORWARDED)
    try:
        container = create(root, container_id, spec, opts)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, attach.FORWARDED)
        raise
    restore_signals = None
    reaped = False
    try:
        if not detach:
            restore_signals = attach.forward_signals(container.pid, container.console)
        if opts.network is not None:
            # Between create and start: the init has its network namespace and
            # waits, so the command's first instruction finds the network ready.
            from ..network import bridge

            bridge.attach(container.state, container.pid, opts.network.network,
                          opts.network.published, name=opts.name, hostname=spec.hostname,
                          extra_hosts=opts.network.extra_hosts)
        try:
            release(container.state, container.record)
        except CartonError:
            # The init died before it could use the FIFO: it said why on the channel.
            msg = container.channel.recv() if container.channel is not None else None
            if msg and msg.get("type") == "error":
                raise CartonError(msg["message"], msg.get("code", EXIT_CARTON)) from None
            raise
        signal.pthread_sigmask(signal.SIG_UNBLOCK, attach.FORWARDED)  # the command runs
        if container.channel is not None:
            container.channel.close()
        if spec.hooks.get("poststart"):
            from .start import run_poststart

            run_poststart(container.record)
        if detach:
            return 0
        if container.console is not None:
            attach.relay_terminal(container.console, interactive)
        code = attach.wait(container.pid)
        reaped = True
        if code == 128 + signal.SIGKILL:
            _report_oom(container)  # before remove(), which takes the cgroup and its counters
        return code
    except BaseException:
        detach = False  # a failed start is cleaned up even for run -d
        raise
    finally:
        # Unblocked before the handlers go: a signal still pending is forwarded (to a
        # container that may be gone), not acted on by carton half-way through cleaning up.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, attach.FORWARDED)
        if restore_signals:
            restore_signals()
        if not detach:
            if container.console is not None:
                os.close(container.console)
            if not reaped:
                kill_and_wait(container.pid, container.start_time)
            _remove_unless_gone(container)


def _remove_unless_gone(container):
    """Remove the container, under its lock, unless a ``carton delete`` did it already."""
    try:
        lock = container.state.lock()
    except FileNotFoundError:
        return  # deleted (carton delete --force) while it ran
    try:
        if container.state.exists():
            remove(container.state, container.record, "stopped")
    finally:
        os.close(lock)


def _report_oom(container):
    """After a death by SIGKILL: if the OOM killer did it, say so in one line (the code stays 137).

    The kernel counts the processes its OOM killer takes in each memory
    cgroup (v1 ``memory.oom_control``, v2 ``memory.events``: ``oom_kill``).
    The limit shown is the cgroup's own (``update`` may have changed the
    spec's), or the spec's if the cgroup cannot say; none if it has none
    (the OOM came from a limit above the container's, or from the host).
    """
    try:
        if not container.cgroup.oom_count():
            return
        limit = container.cgroup.stats()["memory"]["usage"]["limit"]
    except (CartonError, OSError):
        return
    if not limit:  # no memory counters to read
        resources = getattr(container.spec.linux, "resources", None) or {}
        limit = (resources.get("memory") or {}).get("limit") or 0
    if limit >= 1 << 62:  # "no limit": v1 says so with a huge number, v2 with max
        limit = 0
    from .. import log

    log.error("out of memory" + (f": limit {human_size(limit)}" if limit > 0 else ""))


def human_size(n):
    """Bytes for a person, in 1024-based units: 33554432 -> ``"32 MiB"``, 1536 -> ``"1.5 KiB"``."""
    for name, size in (("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20),
                       ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.4g} {name}"
    return f"{n} B"


def _stdin_from_devnull():
    """Without ``-i`` the container's stdin is /dev/null, as with docker."""
    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
