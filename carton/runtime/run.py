"""A foreground run: create, start, wait, and remove everything — ``carton run``'s life cycle.

The state directory is made first and removed last, whatever happens in
between: a run that fails half-way leaves no directory, mount, or process.
"""

import os
import signal
import time

from .. import explain
from ..errors import CartonError
from . import attach
from .create import create, kill_and_reap, start
from .state import StateDir, pid_alive, process_start_time


def run_foreground(root, container_id, request):
    """Run ``request.spec`` as container ``container_id``; return the exit code to leave with."""
    spec = request.spec
    state = StateDir(root, container_id)
    explain.step(f"record the container in {state.path}",
                 "record before create: whatever the container owns on the host can "
                 "always be found and removed")
    try:
        state.create()
    except PermissionError:
        raise CartonError(f"cannot create the state directory {state.path}: permission "
                          "denied") from None
    name_link = None
    container = None
    reaped = False
    try:
        record = {"ociVersion": spec.oci_version, "id": container_id, "status": "creating",
                  "pid": 0, "bundle": spec.root_path, "name": request.name,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "carton_pid": os.getpid(), "carton_start": process_start_time(os.getpid())}
        state.save(record)  # first, so that a rival claiming the same name sees us alive
        if request.name:
            name_link = _claim_name(root, request.name, container_id)
        for name, text in request.files.items():
            state.write_file(name, text)
        for mnt in spec.mounts:
            if mnt.type == "bind" and mnt.source in request.files:
                mnt.source = state.file(mnt.source)
        if not request.interactive:
            _stdin_from_devnull()

        # Signals meant for the container that arrive while it is being made wait
        # (blocked) until the handlers that forward them are in place; otherwise a
        # SIGTERM now would kill carton half-way and leave the container behind.
        signal.pthread_sigmask(signal.SIG_BLOCK, attach.FORWARDED)
        try:
            container = create(container_id, spec)
            record.update(pid=container.pid, start_time=process_start_time(container.pid))
            state.save(dict(record, status="created"))
            restore_signals = attach.forward_signals(container.pid, container.console)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, attach.FORWARDED)
        try:
            start(container)
            state.save(dict(record, status="running"))
            if container.console is not None:
                attach.relay_terminal(container.console, request.interactive)
            code = attach.wait(container.pid)
            reaped = True
            return code
        finally:
            restore_signals()
    finally:
        if container is not None:
            if container.console is not None:
                os.close(container.console)
            if not reaped:
                kill_and_reap(container.pid)
        if name_link:
            os.unlink(name_link)
        state.remove()


def _claim_name(root, name, container_id):
    """Reserve ``name`` with a symlink ``<root>/.names/<name> -> <id>``; symlink(2) is atomic.

    A link whose container's init is gone (after a crash) is stale and taken over.
    """
    names = os.path.join(root, ".names")
    os.makedirs(names, 0o700, exist_ok=True)
    link = os.path.join(names, name)
    for _ in range(2):
        try:
            os.symlink(container_id, link)
            return link
        except FileExistsError:
            owner = StateDir(root, os.readlink(link))
            try:
                recorded = owner.load()
            except (OSError, ValueError):
                recorded = None
            # In use while its state is there and either still being created by a live
            # carton, or its init (the very process, not a reused PID) is alive.
            if recorded is not None and (
                    pid_alive(recorded.get("pid"), recorded.get("start_time"))
                    or (recorded.get("status") == "creating"
                        and pid_alive(recorded.get("carton_pid"), recorded.get("carton_start")))):
                raise CartonError(f"the container name {name!r} is already in use by container "
                                  f"{owner.id[:12]}") from None
            os.unlink(link)
    raise CartonError(f"cannot claim the container name {name!r}")


def _stdin_from_devnull():
    """Without ``-i`` the container's stdin is /dev/null, as with docker."""
    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
