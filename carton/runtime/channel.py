"""The parent and the container's init talk over a socket pair, in small JSON messages.

A SOCK_SEQPACKET unix socket keeps message boundaries (one send, one
receive) and can carry file descriptors (SCM_RIGHTS), which is how the
master side of a terminal made inside the container reaches Carton.
Both ends are close-on-exec. For ``exec``, the parent reads on after
"ready": end-of-file then means the process exec'd. For the init, the exec
FIFO tells ``start`` how the exec went (see ``runtime/start.py``).
"""

import _socket  # the C module: socket.py imports enum and selectors, ~2.5 ms
import struct

from .. import jsonc

_MAX = 65536


class Channel:
    """One end of the parent/init socket pair."""

    def __init__(self, sock):
        self.sock = sock

    @classmethod
    def pair(cls):
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def send(self, kind, fds=(), **fields):
        fields["type"] = kind
        data = jsonc.dumps(fields).encode()
        # MSG_NOSIGNAL: if the other end is gone, an error, not a SIGPIPE that kills us.
        ancillary = ([(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
                     if fds else [])
        self.sock.sendmsg([data], ancillary, _socket.MSG_NOSIGNAL)

    def recv(self):
        """The next message as a dict (fds received under ``"fds"``), or None at end-of-file."""
        # MSG_CMSG_CLOEXEC: a received fd must not leak into anything we exec later.
        data, ancdata, _, _ = self.sock.recvmsg(_MAX, _socket.CMSG_SPACE(4 * 4),
                                                _socket.MSG_CMSG_CLOEXEC)
        if not data:
            return None
        msg = jsonc.loads(data.decode())
        fds = []
        for level, kind, payload in ancdata:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4])
        msg["fds"] = fds
        return msg

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()
