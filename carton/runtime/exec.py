"""``exec``: run one more process inside a running container.

Like ``create``, through a helper: the helper joins the container's cgroup
and, with setns(2), each of its init's namespaces; the mount namespace last,
because joining it changes our root and cwd to the container's. A new PID
namespace applies to children only, so the helper forks the process, which
is then inside the container's PID namespace too.
"""

import os

from .. import explain
from ..errors import EXIT_CARTON, CartonError
from ..linux import namespaces as ns
from ..linux import process as proc
from . import init
from .spawn import fork_helper
from .state import open_state, status

# The order of setns(2): mnt last, since after it paths mean the container's.
_JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "mount")


class ExecOptions:
    __slots__ = ("detach", "pid_file", "console_socket", "preserve_fds")

    def __init__(self, detach=False, pid_file=None, console_socket=None, preserve_fds=0):
        self.detach = detach
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds


class Execed:
    """A started exec process: its host PID and, for a foreground ``-t``, the terminal's master."""

    def __init__(self, pid, console, channel):
        self.pid = pid
        self.console = console
        self.channel = channel


def exec_process(root, container_id, spec, opts):
    """Start ``spec.process`` in the container; return an Execed once it has exec'd."""
    sd, record = open_state(root, container_id)
    current = status(sd, record)
    if current not in ("running", "created"):
        raise CartonError(f"cannot exec in a {current} container: {container_id}", 1)
    if spec.process.terminal and opts.detach and not opts.console_socket:
        raise CartonError("cannot allocate a pseudo-terminal without --console-socket", 1)
    init_pid = record["pid"]
    cgroup = None
    if record.get("cgroup_paths"):
        from .. import cgroups

        cgroup = cgroups.from_paths(record["cgroup_paths"])

    # Open every namespace of the init now, while /proc is the host's, and
    # only those that differ from ours (joining our own is pointless).
    targets = []
    for kind in _JOIN_ORDER:
        name = ns.PROC_NAME[kind]
        theirs = f"/proc/{init_pid}/ns/{name}"
        try:
            if os.readlink(theirs) != os.readlink(f"/proc/self/ns/{name}"):
                targets.append((kind, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
        except FileNotFoundError:
            raise CartonError(f"container not running: {container_id}", 1) from None

    if spec.linux.seccomp:
        from ..security import seccomp_cache

        spec.linux.seccomp_program = seccomp_cache.program(spec.linux.seccomp, root)
    spawned = fork_helper(lambda channel: _helper_main(spec, cgroup, targets, channel, opts))
    for _, fd in targets:
        os.close(fd)
    ready = spawned.collect()
    console = ready["fds"][0] if ready["fds"] else None
    # The process is past "ready" and goes straight on to execve; its end of the
    # channel closes on exec. End-of-file: it runs. A message: why it could not.
    msg = spawned.channel.recv()
    if msg is not None:
        if console is not None:
            os.close(console)
        spawned.abort()
        raise CartonError(msg.get("message", "exec failed"), msg.get("code", EXIT_CARTON))
    pid = spawned.pid
    spawned.channel.close()
    if opts.pid_file:
        from .create import _write_pid_file

        _write_pid_file(opts.pid_file, pid)
    if console is not None and opts.console_socket:
        from .console import send_master

        send_master(opts.console_socket, console)
        os.close(console)
        console = None
    return Execed(pid, console, None)


def _helper_main(spec, cgroup, targets, channel, opts):
    try:
        proc.set_dumpable(False)  # see create.py: no container process may reach into us
        init.preload(spec)  # before setns(mnt): then our files are out of reach
        if cgroup is not None:
            cgroup.join_self()
        for kind, fd in targets:
            explain.step(f"join the container's {kind} namespace", "setns(2) into the init's")
            ns.setns(fd, ns.BY_NAME[kind])
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            init.exec_main(spec, channel, opts.preserve_fds)  # never returns
        channel.send("pid", pid=pid)
        os._exit(0)
    except BaseException as e:
        try:
            channel.send("error", message=f"cannot join the container: {e}", code=EXIT_CARTON)
        finally:
            os._exit(EXIT_CARTON)
