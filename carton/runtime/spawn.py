"""How ``create`` and ``exec`` fork the process that goes into the container.

A PID namespace is special: unshare(CLONE_NEWPID) and setns(fd, CLONE_NEWPID)
do not move the caller, only the children it forks afterwards. Two ways to
use that:

* **Straight** (``fork_into_pid_namespace``): carton itself makes (or joins)
  the PID namespace, forks the child, which is born in it, and points its own
  later children back at its own PID namespace. The child changes its other
  namespaces itself. One fork; used by ``create`` when there is no user
  namespace.
* **Through a helper** (``fork_helper``): carton → helper → the real child.
  The helper changes namespaces (a new user namespace first, which must own
  the PID namespace made after it, so carton, outside, cannot make that one;
  setns for ``exec``) and forks the child; it reports the child's PID and
  exits. Carton is a child subreaper, so the child becomes carton's own child.

The child answers "ready" (or "error") on the same socket; a helper and the
child write independently, so ``collect`` takes the messages in whatever
order they come.
"""

import errno
import os

from .. import explain
from ..errors import EXIT_CARTON, CartonError
from ..linux import namespaces as ns
from ..linux import process
from ..linux.libc import describe
from .channel import Channel


class Spawned:
    """A forked helper (until reaped), its child's PID once known, and carton's end of the channel."""

    def __init__(self, helper, channel):
        self.helper = helper
        self.pid = None
        self.channel = channel

    def collect(self, on_other=None):
        """Wait for the child's PID and its first answer; return the "ready" message.

        ``on_other(msg)`` handles any other message (``create`` runs hooks there).
        On an error the child (which exits by itself) is reaped, the helper too,
        and a CartonError says what the child said.
        """
        outcome = None
        try:
            while self.pid is None or outcome is None:
                msg = self.channel.recv()
                if msg is None:
                    outcome = outcome or {"type": "error", "message": "the container's process "
                                          "exited during setup without saying why"}
                    break
                if msg["type"] == "pid":
                    self.pid = msg["pid"]
                    reap(self.helper)
                    self.helper = None
                elif msg["type"] in ("ready", "error") and outcome is None:
                    outcome = msg
                elif on_other is not None:
                    on_other(msg)
            if outcome["type"] == "error":
                raise CartonError(outcome["message"], outcome.get("code", EXIT_CARTON))
        except BaseException:
            for fd in (outcome or {}).get("fds", []):
                os.close(fd)
            self.abort()
            raise
        return outcome

    def abort(self):
        """Undo: reap the helper, SIGKILL and reap the child, close the channel."""
        if self.helper:
            reap(self.helper)
            self.helper = None
        if self.pid:
            from .create import kill_and_wait

            kill_and_wait(self.pid)
        self.channel.close()


def fork_helper(helper_main):
    """Fork a helper that runs ``helper_main(channel)`` (which must never return)."""
    parent_end, child_end = Channel.pair()
    explain.step("become a child subreaper",
                 "the new process will be our grandchild; when its parent exits, we adopt it")
    process.set_child_subreaper()
    explain.step("fork a helper process",
                 "it changes namespaces, so that carton itself stays on the host")
    explain.call("fork")
    helper = os.fork()
    if helper == 0:
        parent_end.close()
        helper_main(child_end)  # never returns
        os._exit(EXIT_CARTON)
    child_end.close()
    return Spawned(helper, parent_end)


def fork_into_pid_namespace(pid_namespace, child_main):
    """Fork ``child_main(channel)`` (which must never return) into the container's PID namespace.

    ``pid_namespace`` is None (the config has none: the child stays in ours),
    ``""`` (a new one) or the path of one to join. Carton's own later children
    (hooks, ``exec``) go back to carton's PID namespace, whatever happens.
    """
    parent_end, child_end = Channel.pair()
    pid = None
    try:
        own = None if pid_namespace is None else os.open("/proc/self/ns/pid",
                                                        os.O_RDONLY | os.O_CLOEXEC)
        moved = False
        try:
            if pid_namespace is not None:
                _for_next_child(pid_namespace)
                moved = True
            explain.step("fork the container's init",
                         "the first child born in a new PID namespace is its PID 1"
                         if pid_namespace == "" else "it goes into the container's namespaces")
            explain.call("fork")
            pid = os.fork()
            if pid == 0:
                try:
                    parent_end.close()
                    child_main(child_end)
                finally:
                    os._exit(EXIT_CARTON)  # child_main never returns; nor does the child, here
        finally:
            if moved:  # our next children (hooks, exec) are born beside us again
                ns.setns(own, ns.CLONE_NEWPID)
            if own is not None:
                os.close(own)
    except BaseException:
        if pid:
            from .create import kill_and_wait

            kill_and_wait(pid)
        parent_end.close()
        raise
    finally:
        child_end.close()
    spawned = Spawned(None, parent_end)
    spawned.pid = pid
    return spawned


def _for_next_child(pid_namespace):
    """Make (``""``) or join (a path) the PID namespace our next child is born in."""
    try:
        if pid_namespace:
            explain.step(f"join the PID namespace at {pid_namespace} for our next child",
                         "setns with a PID namespace moves only the children forked afterwards")
            fd = os.open(pid_namespace, os.O_RDONLY | os.O_CLOEXEC)
            try:
                ns.setns(fd, ns.CLONE_NEWPID)
            finally:
                os.close(fd)
        else:
            explain.step("make a new PID namespace for our next child",
                         "unshare(CLONE_NEWPID) moves only the children forked afterwards: "
                         "carton itself stays on the host")
            ns.unshare(ns.CLONE_NEWPID)
    except OSError as e:
        where = f"join the pid namespace at {pid_namespace}" if pid_namespace else \
            "make a pid namespace"
        hint = " (is it a PID namespace?)" if pid_namespace and e.errno == errno.EINVAL else ""
        raise CartonError(f"cannot {where}: {describe(e)}{hint}", EXIT_CARTON) from None


def reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
