"""Signals sent to ``carton run`` reach the container's PID 1, and death by a signal is 128+N.

PID 1 of a PID namespace only receives the signals it has a handler for, so
every command here is a shell that traps the signal it expects.
"""

import os
import select
import signal
import subprocess
import time

import pytest
from carton_testlib import children

TIMEOUT = 10


def read_until(proc, expected, timeout=TIMEOUT):
    """Read ``proc.stdout`` (a byte pipe) until ``expected`` appears; return all read so far."""
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while expected.encode() not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {expected!r}; output so far: {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"output ended before {expected!r}; output: {data!r}")
            data += chunk
    return data.decode(errors="replace")


def read_rest(proc, timeout=TIMEOUT):
    """Read ``proc.stdout`` to its end."""
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"output did not end; output so far: {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return data.decode(errors="replace")
            data += chunk


def stop(proc):
    """Make sure ``proc`` (a carton run) and its container are gone, and reap it.

    The container's init is carton's child: SIGKILL it (which ends its whole
    PID namespace) and let carton clean up as it does when a container dies.
    """
    if proc.poll() is None:
        for child in children(proc.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture
def start(carton, rootfs):
    """Start ``carton run ROOTFS /bin/sh -c SCRIPT`` with its stdout on a pipe."""
    started = []

    def run(script, *options):
        proc = carton.popen("run", *options, rootfs, "/bin/sh", "-c", script,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
        started.append(proc)
        return proc

    yield run
    for proc in started:
        stop(proc)


LOOP = "echo ready; while :; do sleep 0.05; done"


@pytest.mark.parametrize("name", ["INT", "TERM", "HUP", "QUIT", "USR1", "USR2"])
def test_signal_is_forwarded_to_pid_1(start, name):
    proc = start(f'trap "echo got {name}; exit 42" {name}; {LOOP}')
    read_until(proc, "ready")
    proc.send_signal(getattr(signal, f"SIG{name}"))
    assert f"got {name}" in read_rest(proc)
    assert proc.wait(timeout=TIMEOUT) == 42


def test_winch_without_tty_is_forwarded_and_the_container_goes_on(start):
    proc = start('trap "echo got WINCH" WINCH; trap "echo got TERM; exit 42" TERM; ' + LOOP)
    read_until(proc, "ready")
    proc.send_signal(signal.SIGWINCH)
    read_until(proc, "got WINCH")
    assert proc.poll() is None, "the container ended on SIGWINCH"
    proc.send_signal(signal.SIGWINCH)
    read_until(proc, "got WINCH")
    proc.send_signal(signal.SIGTERM)
    rest = read_rest(proc)
    assert "got TERM" in rest
    assert proc.wait(timeout=TIMEOUT) == 42


def test_several_signals_in_a_row_each_reach_the_container(start):
    proc = start('trap "echo got USR1" USR1; trap "echo got USR2" USR2; '
                 'trap "echo got TERM; exit 42" TERM; ' + LOOP)
    read_until(proc, "ready")
    for name in ("USR1", "USR2", "USR1"):
        proc.send_signal(getattr(signal, f"SIG{name}"))
        read_until(proc, f"got {name}")
    proc.send_signal(signal.SIGTERM)
    assert "got TERM" in read_rest(proc)
    assert proc.wait(timeout=TIMEOUT) == 42


def test_untrapped_signal_does_not_kill_pid_1(carton, start):
    """PID 1 without a handler ignores the forwarded signal; SIGKILL from the host still ends it."""
    proc = start(LOOP)
    read_until(proc, "ready")
    proc.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    assert proc.poll() is None, "PID 1 of the container died of a signal it does not handle"
    os.kill(carton.init_pid(), signal.SIGKILL)
    assert proc.wait(timeout=TIMEOUT) == 128 + signal.SIGKILL


def test_sigkill_of_the_init_from_the_host_gives_137(carton, start):
    proc = start('trap "echo got TERM; exit 42" TERM; ' + LOOP)
    read_until(proc, "ready")
    pid = carton.init_pid()
    assert pid in children(proc.pid)
    os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=TIMEOUT) == 137
    assert "got TERM" not in read_rest(proc)


def test_sigterm_of_the_init_from_the_host_reaches_its_trap(carton, start):
    """A signal from the host (outside the namespace) is delivered like any other."""
    proc = start('trap "echo got TERM; exit 42" TERM; ' + LOOP)
    read_until(proc, "ready")
    os.kill(carton.init_pid(), signal.SIGTERM)
    assert "got TERM" in read_rest(proc)
    assert proc.wait(timeout=TIMEOUT) == 42

