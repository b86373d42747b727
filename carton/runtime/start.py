"""``start``: release a created container's init, which then execs the user's program.

The init is blocked opening the exec FIFO for writing; opening it for reading
here lets it through. It writes one byte, which we read to know it got
past; then the FIFO is removed, and from then on the container is running.
"""

import os
import select
import time

from .. import explain
from ..errors import CartonError
from . import hooks
from .state import open_state, pid_alive, status


def start(root, container_id):
    """runc's ``start ID``: only a container in the ``created`` state can start."""
    sd, record = open_state(root, container_id)
    lock = sd.lock()
    try:
        current = status(sd, record)
        if current != "created":
            raise CartonError(f"cannot start a container that is {current}: {container_id}"
                              if current != "stopped" else
                              f"cannot start an already stopped container: {container_id}", 1)
        release(sd, record)
    finally:
        os.close(lock)
    run_poststart(record)


def run_poststart(record):
    """The poststart hooks: after the command has started; a failure is only a warning."""
    for warning in hooks.run("poststart", hooks.from_record(record, "poststart"),
                             hooks.state_for(record, "running")):
        _warn(warning)


def release(sd, record):
    """Open the exec FIFO, and read until the init has exec'd the command (or said why not).

    Opening the FIFO releases the init, which writes "0" and goes on; its end
    is close-on-exec, so end-of-file means the command now runs. If a step
    after start fails (a startContainer hook, execve itself), the init writes
    "E<code> <why>" first.
    """
    explain.step("start the container", "open the exec FIFO: the init, blocked writing to "
                 "it, goes on to exec the command")
    fifo = sd.file("exec.fifo")
    explain.call("open", fifo, explain.Raw("O_RDONLY|O_NONBLOCK"))
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    data = b""
    try:
        # Non-blocking, and checking on the init between polls: if it died
        # before writing, a blocking read would wait for ever.
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            chunk = None
            if poller.poll(100):
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    pass
            if chunk:
                data += chunk
                continue
            if chunk == b"" and data:
                break  # the init's end closed after its "0": it exec'd, or failed and said so
            if not pid_alive(record.get("pid"), record.get("start_time")):
                if data:
                    break
                raise CartonError(f"cannot start container {record['id']}: its init has exited",
                                  1)
            if chunk == b"":
                time.sleep(0.0005)  # no writer yet (the init is between open and write)
    finally:
        os.close(fd)
    os.unlink(fifo)
    if data[1:2] == b"E":
        code, _, message = data[2:].decode(errors="replace").partition(" ")
        raise CartonError(message, int(code) if code.isdigit() else 1)


def _warn(message):
    from .. import log

    log.warning(message)
