"""Staying with a running container: forward signals, relay its terminal, wait for its exit.

This is what a foreground ``carton run`` does between ``start`` and the end:

* signals sent to ``carton`` (INT, TERM, HUP, QUIT, USR1, USR2, and WINCH
  without a terminal) are sent on to the container's PID 1, as ``docker run``
  does with ``--sig-proxy``. Note that PID 1 of a PID namespace only receives
  signals it has a handler for: ``sleep`` as PID 1 ignores SIGTERM.
* with ``-t``, bytes are copied between the user's terminal (put in raw mode,
  so Ctrl-C and Ctrl-Z travel as bytes to the container's own terminal,
  whose line discipline turns them into signals there) and the master side
  of the container's pty; a window size change (SIGWINCH) is applied to it.
* the exit status becomes ours: the command's own code, or 128+N after
  death by signal N.
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import errno
import os
import select

from ..linux import tty

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


def forward_signals(pid, console=None):
    """Install handlers that pass our signals on to ``pid``; return a function that undoes it."""

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def resize(_sig, _frame):
        _copy_window_size(console)

    previous = {}
    for sig in FORWARDED:
        handler = resize if (sig == signal.SIGWINCH and console is not None) else forward
        previous[sig] = signal.signal(sig, handler)
    if console is not None:
        # The size now, before start: the command may ask for it at once (a new pty is
        # 0x0), and from here on the handler above follows every change.
        _copy_window_size(console)

    def restore():
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


class SignalWakeup:
    """A pipe that Python writes a byte to whenever a signal arrives, to poll with other fds.

    Why: Python runs a signal's handler between two bytecodes, not in the C
    signal handler. A signal that lands after the last such check and just
    before a blocking call (waitpid(2), poll(2)) would have its handler wait
    until that call returns, for ``wait`` the container's exit: a SIGTERM for
    the container would never be forwarded. With this pipe among the fds it
    polls (``signal.set_wakeup_fd``), the call returns at once and the handler
    runs.
    """

    def __enter__(self):
        self.fd, self._write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous = signal.set_wakeup_fd(self._write_end, warn_on_full_buffer=False)
        return self

    def drain(self):
        """Empty the pipe (the handlers themselves run between bytecodes, as always)."""
        try:
            while os.read(self.fd, 512):
                pass
        except BlockingIOError:
            pass

    def __exit__(self, *exc):
        signal.set_wakeup_fd(self._previous)
        os.close(self.fd)
        os.close(self._write_end)


def wait(pid):
    """Wait for ``pid`` to exit; return its status as a shell would: code, or 128+signal.

    Not a plain blocking waitpid(2): the process's pidfd (readable once it has
    exited, pidfd_open(2)) is polled with a ``SignalWakeup``, so a forwarded
    signal is never held up until the container's end.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # gone already (ESRCH), or a kernel before 5.3 (ENOSYS)
        pidfd = None
    if pidfd is not None:
        try:
            with SignalWakeup() as wakeup:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.register(wakeup.fd, select.POLLIN)
                while not any(fd == pidfd for fd, _ in poller.poll()):
                    wakeup.drain()
        finally:
            os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def relay_terminal(master, interactive):
    """Copy between our stdio and the container's terminal until the container closes it.

    With ``interactive`` (``-i``) our stdin is read too, and if it is a
    terminal it is put in raw mode for the duration, then restored exactly.
    """
    import gc

    gc.enable()  # off while starting (bin/carton); this loop may run for days
    saved = None
    if interactive and os.isatty(0):
        import termios
        import tty as tty_modes

        saved = termios.tcgetattr(0)
        # TCSADRAIN, not setraw's default TCSAFLUSH, which would throw away what the
        # user typed before the container was ready.
        tty_modes.setraw(0, termios.TCSADRAIN)
    _copy_window_size(master)
    try:
        _pump(master, interactive)
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _pump(master, interactive):
    with SignalWakeup() as wakeup:  # forwarded signals and SIGWINCH without delay
        poller = select.poll()
        poller.register(master, select.POLLIN)
        poller.register(wakeup.fd, select.POLLIN)
        if interactive:
            poller.register(0, select.POLLIN)
        _copy(master, poller, wakeup)


def _copy(master, poller, wakeup):
    while True:
        for fd, events in poller.poll():
            if fd == wakeup.fd:
                wakeup.drain()
            elif fd == master:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno == errno.EIO:  # every slave fd is closed: the container is gone
                        return
                    raise
                if not data:
                    return
                _write_all(1, data)
            else:
                data = os.read(0, 65536) if events & (select.POLLIN | select.POLLHUP) else b""
                if data:
                    _write_all(master, data)
                else:
                    # Our stdin ended: send the terminal's end-of-file character (^D),
                    # as a person at the keyboard would, and stop reading it.
                    poller.unregister(0)
                    _write_all(master, b"\x04")


def _write_all(fd, data):
    while data:
        try:
            written = os.write(fd, data)
        except BrokenPipeError:
            return
        data = data[written:]


def _copy_window_size(master):
    size = tty.get_size(0) or tty.get_size(1)
    if master is not None and size:
        tty.set_size(master, *size)
