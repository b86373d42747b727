"""The two-step fork that ``create`` and ``exec`` share: carton → helper → the real child.

The helper changes namespaces (unshare for ``create``, setns for ``exec``)
and forks the child, which is then born in the new PID namespace; the helper
reports the child's PID and exits. Carton is a child subreaper, so the child
becomes carton's own child. The child answers "ready" (or "error") on the
same socket; helper and child write independently, so ``collect`` takes the
messages in whatever order they come.
"""

import os

from .. import explain
from ..errors import EXIT_CARTON, CartonError
from ..linux import process
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


def reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
