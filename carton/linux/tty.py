"""Pseudo-terminals: the ioctls behind ``-t``. See pty(7), ioctl_tty(2).

With ``-t`` the container's process gets a terminal of its own: a pty made
inside the container's own /dev/pts, whose *master* side Carton holds and
connects to the user's terminal. Constants from <asm-generic/ioctls.h>.
"""

import fcntl
import os
import struct

from .. import explain

TIOCSCTTY = 0x540E
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441
_WINSIZE = "HHHH"  # struct winsize: rows, cols, xpixel, ypixel


def open_pty(ptmx="/dev/ptmx"):
    """Make a new pty pair; return ``(master_fd, slave_fd)``. open(2) /dev/ptmx, TIOCGPTPEER.

    Why: opened *inside* the container (after its devpts is mounted), the pty
    belongs to the container's own devpts instance, so ``tty`` in the container
    prints ``/dev/pts/0`` and the host's ptys stay out of sight.
    TIOCGPTPEER opens the slave through the master itself, not by a path that
    someone could swap.
    """
    explain.call("open", ptmx, explain.Raw("O_RDWR|O_NOCTTY|O_CLOEXEC"))
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    explain.call("ioctl", master, explain.Raw("TIOCSPTLCK"), 0)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    explain.call("ioctl", master, explain.Raw("TIOCGPTPEER"),
                 explain.Raw("O_RDWR|O_NOCTTY|O_CLOEXEC"))
    slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return master, slave


def set_controlling_terminal(fd):
    """Make the terminal ``fd`` the controlling terminal of this session. ioctl TIOCSCTTY.

    Why: job control (Ctrl-C, Ctrl-Z, ``fg``) works only for processes whose
    session has a controlling terminal; the caller must be a session leader.
    """
    explain.call("ioctl", fd, explain.Raw("TIOCSCTTY"), 0)
    fcntl.ioctl(fd, TIOCSCTTY, 0)


def get_size(fd):
    """Return ``(rows, cols)`` of the terminal ``fd``, or None if it is not one. TIOCGWINSZ."""
    try:
        rows, cols, _, _ = struct.unpack(_WINSIZE, fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return rows, cols


def set_size(fd, rows, cols):
    """Set the window size of the terminal ``fd``. TIOCSWINSZ.

    Why: full-screen programs (vi, top) draw for the size the pty reports; the
    kernel also sends SIGWINCH to the terminal's foreground process group.
    """
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack(_WINSIZE, rows, cols, 0, 0))
