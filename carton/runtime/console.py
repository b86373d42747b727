"""``--console-socket``: hand the master side of the container's terminal to the caller.

containerd's shim and podman's conmon own the container's terminal: they pass
the path of a unix socket, and the runtime sends the pty master over it as
an SCM_RIGHTS message, as runc does (the message's data is the pty's name).
"""

import array
import socket

from ..errors import CartonError


def send_master(socket_path, master_fd, name="/dev/ptmx"):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(socket_path)
            s.sendmsg([name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                         array.array("i", [master_fd]))])
    except OSError as e:
        raise CartonError(f"cannot send the terminal to the console socket {socket_path}: "
                          f"{e.strerror}", 1) from None
