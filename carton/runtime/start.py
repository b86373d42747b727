"""``start``: release a created container's init, which then execs the user's program.

The init is blocked opening the exec FIFO for writing; opening it for reading
here lets it through. It writes one byte, which we read to know it got
past; then the FIFO is removed, and from then on the container is running.
"""

import errno
import os
import select

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
    for warning in hooks.run("poststart", hooks.from_record(record, "poststart"),
                             hooks.state_for(record, "running")):
        _warn(warning)


def release(sd, record):
    """Open the exec FIFO for reading and read the init's byte: the init goes on to exec."""
    explain.step("start the container", "open the exec FIFO: the init, blocked writing to "
                 "it, goes on to exec the command")
    fifo = sd.file("exec.fifo")
    explain.call("open", fifo, explain.Raw("O_RDONLY|O_NONBLOCK"))
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        # Non-blocking, and checking on the init between polls: if it died
        # before writing, a blocking read would wait for ever.
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            if poller.poll(100):
                try:
                    data = os.read(fd, 1)
                except OSError as e:
                    if e.errno == errno.EAGAIN:
                        continue
                    raise
                if data:
                    break
            if not pid_alive(record.get("pid"), record.get("start_time")):
                raise CartonError(f"cannot start container {record['id']}: its init has exited",
                                  1)
    finally:
        os.close(fd)
    os.unlink(fifo)
    record["status"] = "running"
    sd.save(record)


def _warn(message):
    from .. import log

    log.warning(message)
