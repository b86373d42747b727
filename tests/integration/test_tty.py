"""``carton run -t`` (and ``-it``), driven through a real pseudo-terminal made by the test.

The test plays the user's terminal emulator: it holds the master side of a
pty whose slave side is carton's stdin, stdout, stderr and controlling
terminal, types into the master and reads what carton draws. busybox ash
sprinkles escape sequences (``\\x1b[6n``, ``\\x1b[J``) around its prompts, so
output is matched loosely, by markers the typed command line itself does not
contain (``echo T=$TERM`` prints ``T=xterm``; the echoed line shows ``$TERM``).
"""

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

import carton_testlib
import pytest
from carton_testlib import children

TIMEOUT = 10
PROMPT = rb"# "


def set_window_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def process_tree(pid):
    result, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            result.append(child)
            todo.append(child)
    return result


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return None


def process_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def gone(pid):
    """True once ``pid`` has exited (a zombie not yet reaped by its shell counts as gone)."""
    return process_state(pid) in (None, "Z")


def wait_for(predicate, what, timeout=TIMEOUT):
    return carton_testlib.wait_for(predicate, what, timeout, interval=0.02)


def readable(text):
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text.decode(errors="replace"))


class Session:
    """One ``carton run`` attached to the slave side of a pty; the test holds the master."""

    def __init__(self, proc, master, slave):
        self.proc = proc
        self.master = master
        self.slave = slave
        self.buffer = b""  # read from the master, not yet consumed by expect()
        self.seen = b""  # everything read, for error messages

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        os.write(self.master, data)

    def line(self, command):
        """Type ``command`` and Enter (a terminal sends CR for the Enter key)."""
        self.send(command + "\r")

    def _read(self, timeout):
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: no one holds the slave side any more
            return None
        self.buffer += data
        self.seen += data
        return data

    def expect(self, pattern, timeout=TIMEOUT):
        """Read until the regex ``pattern`` (bytes) matches; consume through the match; return it."""
        if isinstance(pattern, str):
            pattern = re.escape(pattern.encode())
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.buffer)
            if match:
                self.buffer = self.buffer[match.end():]
                return match
            left = deadline - time.monotonic()
            if left <= 0 or self._read(left) is None:
                raise AssertionError(f"did not see {pattern!r} on the terminal; it shows:\n"
                                     f"{readable(self.seen)}")

    def prompt(self):
        self.expect(PROMPT)

    def command(self, command, output):
        """Type ``command``, wait for ``output`` (regex bytes) and the next prompt; return the match."""
        self.line(command)
        match = self.expect(output)
        self.prompt()
        return match

    def finish(self, timeout=TIMEOUT):
        """Wait for carton to exit, read what is left on the terminal; return the exit status."""
        code = self.proc.wait(timeout=timeout)
        while self._read(0.05):
            pass
        return code

    def find_process(self, *argv):
        """The host PID of the process ``argv`` in the container, once it runs."""
        argv = [a.encode() for a in argv]
        return wait_for(lambda: next((p for p in process_tree(self.proc.pid) if cmdline(p) == argv),
                                     None), f"{argv} to run in the container")

    def attributes(self):
        return termios.tcgetattr(self.slave)


def _controlling_terminal():
    """In carton's child: a session of its own, with the pty's slave (stdin) as its terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def stop(session):
    """Make sure carton and its container are gone and reaped, whatever the test did."""
    proc = session.proc
    if proc.poll() is None:
        for child in children(proc.pid):  # the container's init: SIGKILL ends its PID namespace
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def terminal(carton, rootfs):
    """``terminal(*run_options, command..., size=(rows, cols))`` -> a Session of ``carton run``.

    The arguments are those of ``carton run`` after the options, with the
    string ``ROOTFS`` standing for the session's root filesystem.
    """
    sessions = []
    fds = []

    def spawn(*args, size=(24, 80)):
        master, slave = os.openpty()
        fds.extend((master, slave))
        set_window_size(slave, *size)
        argv = carton.argv("run", *[rootfs if a == "ROOTFS" else a for a in args])
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                preexec_fn=_controlling_terminal)
        session = Session(proc, master, slave)
        sessions.append(session)
        return session

    yield spawn
    for session in sessions:
        stop(session)
    for fd in fds:
        os.close(fd)


@pytest.fixture
def shell(terminal):
    """An interactive ``carton run -it ROOTFS /bin/sh``, at its first prompt."""
    session = terminal("-it", "ROOTFS", "/bin/sh", size=(33, 97))
    session.prompt()
    return session


def test_tty_is_the_containers_own_first_pts(shell):
    shell.command("tty", rb"\n/dev/pts/0\r")
    shell.line("exit")
    assert shell.finish() == 0


def test_term_is_xterm(shell):
    shell.command("echo T=$TERM", rb"T=xterm\r")
    shell.line("exit")
    assert shell.finish() == 0


def test_window_size_is_copied_at_start_and_on_sigwinch(shell):
    shell.command("stty size", rb"\n33 97\r")
    set_window_size(shell.master, 41, 123)
    shell.proc.send_signal(signal.SIGWINCH)
    # carton copies the size in its signal handler, a moment later: ask until it shows.
    deadline = time.monotonic() + TIMEOUT
    while True:
        rows, cols = shell.command("stty size", rb"\n(\d+) (\d+)\r").groups()
        if (rows, cols) == (b"41", b"123"):
            break
        assert (rows, cols) == (b"33", b"97"), "the container's terminal has a size no one set"
        assert time.monotonic() < deadline, "the new window size never reached the container"
        time.sleep(0.05)
    shell.line("exit")
    assert shell.finish() == 0


def test_ctrl_c_interrupts_the_foreground_command_and_the_shell_survives(shell):
    shell.line("sleep 30")
    sleep = shell.find_process("sleep", "30")
    shell.send(b"\x03")
    wait_for(lambda: gone(sleep), "sleep to die of Ctrl-C")
    shell.prompt()
    assert shell.proc.poll() is None, "Ctrl-C ended carton itself"
    shell.command("echo alive$((6*7))", rb"alive42\r")
    shell.line("exit")
    assert shell.finish() == 0


def test_ctrl_z_stops_the_foreground_command_and_job_control_works(shell):
    shell.line("sleep 30")
    sleep = shell.find_process("sleep", "30")
    shell.send(b"\x1a")
    shell.expect(rb"Stopped +sleep 30")
    shell.prompt()
    assert process_state(sleep) == "T"
    assert shell.proc.poll() is None, "Ctrl-Z stopped or ended carton itself"
    shell.command("jobs", rb"\[1\]\+? +Stopped +sleep 30")
    shell.command("kill -9 %1", rb"\n")
    wait_for(lambda: gone(sleep), "the stopped job to be killed")
    shell.command("echo alive$((6*7))", rb"alive42\r")
    shell.line("exit 0")
    assert shell.finish() == 0


def test_exit_status_of_the_shell_is_carton_s(shell):
    shell.line("exit 7")
    assert shell.finish() == 7


def test_end_of_file_ctrl_d_ends_the_shell(shell):
    shell.send(b"\x04")
    assert shell.finish() == 0


def test_callers_terminal_is_raw_while_attached_and_restored_after(terminal):
    session = terminal("-it", "ROOTFS", "/bin/sh")
    before = session.attributes()
    assert before[3] & termios.ICANON and before[3] & termios.ECHO, "a fresh pty is cooked"
    session.prompt()
    during = session.attributes()
    lflag = during[3]
    assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG), "not in raw mode"
    session.command("echo ok$((1+1))", rb"ok2\r")
    session.line("exit 3")
    assert session.finish() == 3
    assert session.attributes() == before


def test_tty_without_interactive_shows_output_and_does_not_read_stdin(terminal):
    session = terminal("-t", "ROOTFS", "/bin/sh", "-c",
                       'tty; echo ready; if read -t 1 x; then echo "got:$x"; else echo no-input; fi')
    before = session.attributes()
    session.expect(rb"/dev/pts/0\r")
    session.expect(rb"ready\r")
    session.send(b"secret\r")
    session.expect(rb"no-input\r")
    assert session.finish() == 0
    assert b"got:" not in session.seen
    assert session.attributes() == before, "carton changed the terminal without -i"
    # What was typed is still there, unread, in the terminal's input queue.
    os.set_blocking(session.slave, False)
    assert os.read(session.slave, 100) == b"secret\n"


def test_tty_exit_status_on_a_terminal(terminal):
    session = terminal("-t", "ROOTFS", "sh", "-c", "exit 5")
    assert session.finish() == 5


def test_tty_exit_status_without_a_terminal(carton, rootfs):
    result = carton("run", "-t", rootfs, "sh", "-c", "echo out; exit 5", timeout=TIMEOUT)
    assert result.returncode == 5, result.stderr
    assert "out" in result.stdout


def test_stderr_goes_to_the_terminal_too(terminal):
    session = terminal("-t", "ROOTFS", "sh", "-c", "echo to-err >&2; exit 0")
    session.expect(rb"to-err\r")
    assert session.finish() == 0


@pytest.mark.parametrize("attempt", range(3))
def test_window_size_is_set_before_the_command_starts(terminal, attempt):
    """A command that asks for its size at once (here ``stty size``) sees the caller's size, not 0x0."""
    session = terminal("-t", "ROOTFS", "stty", "size", size=(33, 97))
    assert session.finish() == 0, readable(session.seen)
    assert b"33 97" in session.seen


def test_input_typed_before_the_shell_starts_is_not_lost(terminal):
    """Type-ahead waits in the caller's terminal until carton relays it (raw mode must not flush it)."""
    session = terminal("-it", "ROOTFS", "/bin/sh")
    session.line("echo typed$((2+3)); exit 4")
    session.expect(rb"typed5\r")
    assert session.finish() == 4
