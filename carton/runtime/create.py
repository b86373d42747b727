"""``create``: from a Spec to an init process waiting inside its new namespaces.

The parent side of container creation. Three processes take part:

    carton (parent) ──fork──► helper ──unshare(namespaces), fork──► init (PID 1)
         ▲                      exits                                  │
         └──────────── socket pair: "pid", "ready" or "error" ◄────────┘

Why a helper: a new PID namespace applies only to the *children* of the
process that unshares it, and ``carton`` itself must stay in the host's
namespaces (to clean up, to run hooks later). So a short-lived helper
unshares every namespace and forks; its child is PID 1 of the new PID
namespace and already inside the new mount, UTS, IPC, network and cgroup
namespaces. ``carton`` is a child subreaper, so when the helper exits the
init becomes carton's own child, and carton can wait for it.
"""

import os
import signal

from .. import explain
from ..errors import EXIT_CARTON, CartonError
from ..linux import namespaces as ns
from ..linux import process
from . import init
from .channel import Channel


class Container:
    """A created container: its init's PID (in the host's PID namespace) and the channel to it."""

    def __init__(self, id, spec, pid, channel, console=None):
        self.id = id
        self.spec = spec
        self.pid = pid
        self.channel = channel
        self.console = console  # master fd of the container's terminal, with process.terminal


def create(container_id, spec):
    """Make the container's namespaces and init, and return when the init is ready to start.

    On any failure the init is killed and reaped before the error is raised,
    so a failed create leaves no process behind.
    """
    parent_end, child_end = Channel.pair()
    explain.step("become a child subreaper",
                 "the init will be our grandchild; when its parent exits, we adopt it")
    process.set_child_subreaper()
    explain.step("fork a helper process",
                 "it makes the namespaces, so that carton itself stays on the host")
    explain.call("fork")
    helper = os.fork()
    if helper == 0:
        parent_end.close()
        _helper_main(spec, child_end)  # never returns
    child_end.close()

    # The helper reports the init's PID and the init reports "ready" (or an
    # error); the two write to the same socket independently, in either order.
    init_pid, outcome = None, None
    try:
        while init_pid is None or outcome is None:
            msg = parent_end.recv()
            if msg is None:
                outcome = outcome or {"type": "error", "message":
                                      "the container's init exited during setup without "
                                      "saying why"}
                break
            if msg["type"] == "pid":
                init_pid = msg["pid"]
                _reap(helper)
                helper = None
            elif msg["type"] in ("ready", "error") and outcome is None:
                outcome = msg
        if outcome["type"] == "error":
            raise CartonError(outcome["message"], outcome.get("code", EXIT_CARTON))
    except BaseException:
        if helper:
            _reap(helper)
        if init_pid:
            kill_and_reap(init_pid)
        parent_end.close()
        raise
    msg = outcome
    explain.continue_from(msg.get("steps", 0))  # one numbering across the three processes
    console = msg["fds"][0] if msg["fds"] else None
    return Container(container_id, spec, init_pid, parent_end, console)


def start(container):
    """Let the init exec the user's command; return once it has (or raise why it could not).

    The init's end of the channel is close-on-exec: end-of-file means the
    execve succeeded. An error message means it did not, and the init exits.
    """
    explain.step("start the container", "tell the init to exec the command")
    container.channel.send("start", steps=explain.steps_so_far())
    msg = container.channel.recv()
    container.channel.close()
    if msg is not None:
        kill_and_reap(container.pid)
        raise CartonError(msg.get("message", "the container's init failed"),
                          msg.get("code", EXIT_CARTON))


def kill_and_reap(pid):
    """SIGKILL the init (which takes its whole PID namespace with it) and reap it."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _helper_main(spec, channel):
    """In the helper: join or make the namespaces, fork the init, report its PID, exit."""
    try:
        _enter_namespaces(spec)
        explain.step("fork the container's init",
                     "the first child after unshare(CLONE_NEWPID) is PID 1 of the new namespace")
        explain.call("fork")
        pid = os.fork()
        if pid == 0:
            init.main(spec, channel)  # never returns
        channel.send("pid", pid=pid)
        os._exit(0)
    except BaseException as e:
        try:
            channel.send("error", message=f"cannot make the container's namespaces: {e}",
                         code=EXIT_CARTON)
        finally:
            os._exit(EXIT_CARTON)


def _enter_namespaces(spec):
    """Join the namespaces the spec names by path, then unshare the new ones."""
    new = 0
    for namespace in spec.linux.namespaces:
        flag = ns.BY_NAME[namespace.type]
        if namespace.path:
            explain.step(f"join the {namespace.type} namespace at {namespace.path}",
                         "the config asks to share an existing namespace")
            fd = os.open(namespace.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                ns.setns(fd, flag)
            finally:
                os.close(fd)
        else:
            new |= flag
    if new:
        explain.step("make new namespaces",
                     "the container gets its own mounts, hostname, IPC, PIDs, network "
                     "and cgroup root")
        ns.unshare(new)
