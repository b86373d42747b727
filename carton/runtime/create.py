"""``create``: from a Spec to an init process waiting inside its new namespaces.

The parent side of container creation. Carton stays in the host's
namespaces (to run hooks, to clean up); the init is a child that goes into
the container's::

    carton ──unshare(CLONE_NEWPID), fork──► init (PID 1) ──unshare(mount, UTS, IPC, net, cgroup)
       ▲                                      │
       └── socket pair: "hooks", "ready" or "error" ◄┘

A new PID namespace applies only to the *children* of the process that
unshares it, so carton can make it without entering it: its next child is
PID 1 there. Carton then points its later children back at its own PID
namespace (setns), and the init makes the other namespaces for itself, after
joining the container's cgroup (the root of its cgroup namespace).

With a user namespace one more process takes part, a short-lived helper
(carton ──fork──► helper ──unshare(user, then the rest), fork──► init): the
user namespace must exist first and own the PID namespace, and only a
process inside it can make that. The helper reports the init's PID and
exits; carton is a child subreaper, so the init becomes carton's own child.

``create`` returns once the init is ready: it then waits, blocked on opening
the exec FIFO in the state directory, until ``start`` opens the other end.
This is runc's design, and what containerd and podman expect: ``create``
and ``start`` are two commands, and the process between them is the init.
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import errno
import os
import time

from .. import explain
from ..errors import EXIT_CARTON, CartonError
from ..linux import ids, process
from ..linux import namespaces as ns
from ..linux.libc import describe
from . import hooks, init
from .spawn import fork_helper, fork_into_pid_namespace
from .state import StateDir, check_id, pid_alive, process_start_time


class CreateOptions:
    """How the caller wants the container made (runc's ``create`` flags, and ``carton run``'s)."""

    __slots__ = ("bundle", "pid_file", "console_socket", "name", "files", "foreground",
                 "preserve_fds", "network")

    def __init__(self, bundle="", pid_file=None, console_socket=None, name=None, files=None,
                 foreground=False, preserve_fds=0, network=None):
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.name = name
        self.files = files or {}       # {name in the state dir: text}, sources of bind mounts
        self.foreground = foreground   # keep the channel and the terminal for attach
        self.preserve_fds = preserve_fds
        self.network = network         # network.modes.Choice: a bridge network to attach to


class Container:
    """A created container: its init's PID (in the host's PID namespace) and where it is recorded."""

    def __init__(self, id, spec, pid, start_time, state, record, cgroup, channel=None,
                 console=None):
        self.id = id
        self.spec = spec
        self.pid = pid
        self.start_time = start_time
        self.state = state
        self.record = record
        self.cgroup = cgroup
        self.channel = channel  # foreground only: the init's errors before the exec FIFO
        self.console = console  # foreground only: master fd of the container's terminal


def create(root, container_id, spec, opts):
    """Record, then make, the container; return when its init waits for ``start``.

    Record before you create: the state directory, with the cgroup paths and
    the hooks to run at delete, exists before anything it names. On any failure
    everything made so far is removed again, the init included.
    """
    check_id(container_id)
    if spec.process.terminal and not opts.console_socket and not opts.foreground:
        raise CartonError("cannot allocate a pseudo-terminal without --console-socket", 1)
    state = StateDir(root, container_id)
    explain.step(f"record the container in {state.path}",
                 "record before create: whatever the container owns on the host can "
                 "always be found and removed")
    try:
        state.create()
    except FileExistsError:
        raise CartonError(f"container with id exists: {container_id}", 1) from None
    except OSError as e:
        raise CartonError(f"cannot create the state directory {state.path}: {e.strerror}",
                          1) from None

    cgroup = None
    pid = start_time = None
    name_link = None
    try:
        from .. import cgroups

        cgroup = cgroups.manager(spec.linux.cgroups_path, container_id)
        record = {
            "ociVersion": spec.oci_version, "id": container_id, "status": "creating",
            "pid": 0, "bundle": opts.bundle, "rootfs": spec.root_path, "name": opts.name,
            "created": _now(), "annotations": spec.annotations,
            "hooks": {kind: [h.to_dict() for h in hs] for kind, hs in spec.hooks.items()},
            "cgroup_paths": cgroup.paths,
            # What `exec` starts from: the process, and the same seccomp filter.
            "process": spec.process.to_dict(), "seccomp": spec.linux.seccomp,
            "carton_pid": os.getpid(), "carton_start": process_start_time(os.getpid()),
            # A foreground run's container dies with its carton; if that carton
            # crashes instead, the next one sweeps the orphan (sweep.py).
            "foreground": opts.foreground,
        }
        state.save(record)  # first, so that a rival claiming the same name sees us alive
        if opts.name:
            name_link = claim_name(root, opts.name, container_id)
            record["name_link"] = name_link
        for name, text in opts.files.items():
            state.write_file(name, text)
        for mnt in spec.mounts:
            if mnt.type == "bind" and mnt.source in opts.files:
                mnt.source = state.file(mnt.source)
        fifo = state.file("exec.fifo")
        os.mkfifo(fifo, 0o600)
        # The init opens it for writing as the container's root: in a user namespace
        # that is another user on the host, who must own it (runc does the same).
        os.chown(fifo, _host_id(spec.linux.uid_mappings), _host_id(spec.linux.gid_mappings))
        explain.step("make the container's cgroup",
                     "the init is placed in it before it makes its cgroup namespace")
        try:
            cgroup.create()
        except CartonError as e:
            cgroup = _without_cgroup(cgroup, e, spec.linux.resources)
            record["cgroup_paths"] = cgroup.paths
            state.save(record)
        for warning in cgroup.apply(spec.linux.resources) or ():
            from .. import log

            log.warning(warning)
        if not cgroup.devices_enforced:  # no cgroup, or v2 that could not attach the filter
            _confine_devices(spec)

        if spec.linux.seccomp:
            # Compiled here, once, or taken from the cache: the init only loads it.
            from ..security import seccomp_cache

            spec.linux.seccomp_program = seccomp_cache.program(spec.linux.seccomp, root)
        pid, console, channel = _spawn(spec, cgroup, fifo, record, opts)
        start_time = process_start_time(pid)
        record.update(pid=pid, start_time=start_time, status="created",
                      process=spec.process.to_dict())  # as confined (_confine_devices)
        state.save(record)
        if opts.pid_file:
            _write_pid_file(opts.pid_file, pid)
        if console is not None and opts.console_socket:
            from .console import send_master

            send_master(opts.console_socket, console)
            os.close(console)
            console = None
        if not opts.foreground:
            channel.close()
            channel = None
        return Container(container_id, spec, pid, start_time, state, record, cgroup, channel,
                         console)
    except BaseException:
        if pid:
            kill_and_wait(pid, start_time)
        if cgroup is not None:
            try:
                cgroup.destroy()
            except CartonError:
                pass
        if name_link:
            os.unlink(name_link)
        state.remove()
        raise


def _spawn(spec, cgroup, fifo, record, opts):
    """Fork the init (through a helper if there is a user namespace); answer until "ready"."""
    if any(n.type == "user" for n in spec.linux.namespaces):
        spawned = fork_helper(lambda channel: _helper_main(spec, cgroup, channel, fifo, opts, record))
    else:
        pid_ns = next((n.path or "" for n in spec.linux.namespaces if n.type == "pid"), None)
        spawned = fork_into_pid_namespace(
            pid_ns, lambda channel: _init_main(spec, cgroup, channel, fifo, opts, record))

    def runtime_hooks(msg):
        if msg["type"] == "userns":
            # The helper made a user namespace: only a process outside may map its IDs.
            explain.step("write the user namespace's uid and gid maps",
                         "from outside, as only a process there may")
            ids.write_id_map(msg["pid"], "uid", spec.linux.uid_mappings)
            ids.write_id_map(msg["pid"], "gid", spec.linux.gid_mappings)
            spawned.channel.send("mapped")
        # The init asks for the runtime-namespace hooks: namespaces made, pivot_root not yet.
        if msg["type"] == "hooks":
            state = hooks.state_for(record, "creating", msg["pid"])
            for kind in ("prestart", "createRuntime"):
                hooks.run(kind, spec.hooks.get(kind, []), state)
            spawned.channel.send("hooks-done")

    ready = spawned.collect(runtime_hooks)
    console = ready["fds"][0] if ready["fds"] else None
    return spawned.pid, console, spawned.channel


def kill_and_wait(pid, start_time=None, timeout=10.0):
    """SIGKILL the init (which takes its whole PID namespace with it) and wait until it is gone.

    If the init is our child (a foreground run, or a failed create) we reap
    it; otherwise its parent will, and we only wait until it no longer runs.
    """
    if pid_alive(pid, start_time):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_gone(pid, start_time, timeout)


def wait_gone(pid, start_time=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            if not pid_alive(pid, start_time):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def claim_name(root, name, container_id):
    """Reserve ``name`` with a symlink ``<root>/.names/<name> -> <id>``; symlink(2) is atomic.

    A link whose container is gone (after a crash) is stale and taken over.
    """
    names = os.path.join(root, ".names")
    os.makedirs(names, 0o700, exist_ok=True)
    link = os.path.join(names, name)
    for _ in range(2):
        try:
            os.symlink(container_id, link)
            return link
        except FileExistsError:
            owner = StateDir(root, os.readlink(link))
            try:
                recorded = owner.load()
            except (OSError, ValueError):
                recorded = None
            # In use while its state is there and either still being created by a live
            # carton, or its init (the very process, not a reused PID) is alive.
            if recorded is not None and (
                    pid_alive(recorded.get("pid"), recorded.get("start_time"))
                    or (recorded.get("status") == "creating"
                        and pid_alive(recorded.get("carton_pid"), recorded.get("carton_start")))):
                raise CartonError(f"the container name {name!r} is already in use by container "
                                  f"{owner.id[:12]}") from None
            os.unlink(link)
    raise CartonError(f"cannot claim the container name {name!r}")


def _without_cgroup(cgroup, error, resources):
    """The cgroup cannot be made because the tree is not ours to write: go on without one,
    unless the config asks for limits, which only a cgroup can enforce.

    Inside another container or under a service manager that did not delegate
    a subtree, ``mkdir`` in the cgroup file system fails with EROFS, EACCES or
    EPERM. runc, too, runs a container without limits there. Device rules need
    no cgroup: ``_confine_devices`` keeps devices out of reach without one.
    """
    import errno

    from .. import log
    from ..cgroups import none

    if getattr(error, "errno", None) not in (errno.EROFS, errno.EACCES, errno.EPERM):
        raise error
    try:
        cgroup.destroy()  # what was made before the failure (v1: earlier hierarchies)
    except CartonError:
        pass
    limits = none.limits_in(resources)
    if limits:
        raise CartonError(f"cannot apply linux.resources ({', '.join(limits)}) without a cgroup: "
                          f"{error}; {none.HOW_TO_GET_ONE}") from None
    log.warning(f"no cgroup for the container ({error}): it runs without limits, pause or "
                "statistics, in carton's own cgroup")
    return none.Manager(reason=str(error))


def _confine_devices(spec):
    """When nothing enforces ``linux.resources.devices`` (cgroup v2 where the kernel would
    not attach the eBPF device filter, see ``cgroups/v2.py``), keep devices out of reach
    another way. Without CAP_MKNOD no new device node can be made, and with the root
    mounted nodev none shipped in the rootfs opens; /dev, a tmpfs of ours, holds only
    the nodes the runtime made. Called before the init is forked, which reads the spec."""
    spec.confine_devices = True
    caps = spec.process.capabilities
    if caps is not None:
        for name in caps.SETS:
            setattr(caps, name, [c for c in getattr(caps, name) if c != "CAP_MKNOD"])


def _host_id(mappings, container_id=0):
    """The host ID that ``container_id`` maps to (itself without a user namespace)."""
    for m in mappings:
        if m.container_id <= container_id < m.container_id + m.size:
            return m.host_id + container_id - m.container_id
    return container_id


def _write_pid_file(path, pid):
    tmp = f"{path}.carton-tmp"
    try:
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)
    except OSError as e:
        raise CartonError(f"cannot write the pid file {path}: {e.strerror}", 1) from None


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _init_main(spec, cgroup, channel, fifo, opts, record):
    """In the init, born in its PID namespace: join the cgroup and the other namespaces, go on."""
    try:
        fifo_fd, cgroup_view = _before_namespaces(spec, cgroup, fifo)
        _enter_namespaces(spec, channel, skip_pid=True)  # carton made or joined that one
    except BaseException as e:
        _fail(channel, e)
    init.main(spec, channel, fifo_fd, opts.preserve_fds, hooks.state_for(record, "creating"),
              cgroup_view)  # never returns


def _before_namespaces(spec, cgroup, fifo):
    """What the init's first process does while still in the host's namespaces."""
    # Not dumpable while inside the container's namespaces: no container process
    # may ptrace us or open our /proc/PID/exe (the host's python) (CVE-2019-5736).
    process.set_dumpable(False)
    explain.step("join the container's cgroup",
                 "before unsharing the cgroup namespace, whose root is the cgroup we are in")
    cgroup.join_self()
    # The exec FIFO, opened while we are still root on the host (path only,
    # O_PATH): the init inherits the fd, whatever its user namespace may
    # or may not reach through the state directory's path later.
    explain.call("open", fifo, explain.Raw("O_PATH|O_CLOEXEC"))
    fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
    from ..rootfs.cgroupfs import view_dirs

    cgroup_view = view_dirs(cgroup.paths)  # before the cgroup namespace hides the paths
    return fifo_fd, cgroup_view


def _helper_main(spec, cgroup, channel, fifo, opts, record):
    """In the helper: join the cgroup, join or make the namespaces, fork the init, exit."""
    try:
        fifo_fd, cgroup_view = _before_namespaces(spec, cgroup, fifo)
        _enter_namespaces(spec, channel)
        explain.step("fork the container's init",
                     "the first child after unshare(CLONE_NEWPID) is PID 1 of the new namespace")
        explain.call("fork")
        pid = os.fork()
        if pid == 0:
            init.main(spec, channel, fifo_fd, opts.preserve_fds,
                      hooks.state_for(record, "creating"), cgroup_view)  # never returns
        channel.send("pid", pid=pid)
        os._exit(0)
    except BaseException as e:
        _fail(channel, e)


def _fail(channel, error):
    """Tell carton why the namespaces (or the cgroup) could not be entered, and exit."""
    if isinstance(error, CartonError):
        message = str(error)
    else:
        why = describe(error) if isinstance(error, OSError) else error
        message = f"cannot make the container's namespaces: {why}"
    try:
        channel.send("error", message=message, code=EXIT_CARTON)
    finally:
        os._exit(EXIT_CARTON)


def _new_user_namespace(channel):
    """unshare(CLONE_NEWUSER), then have carton, outside, write our uid and gid maps."""
    explain.step("make a new user namespace",
                 "IDs inside are mapped onto other IDs outside: root in the container need "
                 "not be root on the host; it owns the namespaces made after it")
    ns.unshare(ns.CLONE_NEWUSER)
    channel.send("userns", pid=os.getpid())
    reply = channel.recv()
    if reply is None or reply["type"] != "mapped":
        os._exit(EXIT_CARTON)  # carton could not write the maps, and says why
    # Root of the new namespace from here on (its uid 0 maps to someone outside).
    ids.setresgid(0)
    ids.setresuid(0)


def _enter_namespaces(spec, channel, skip_pid=False):
    """Join the namespaces the spec names by path, then unshare the new ones."""
    new = 0
    # A user namespace comes first: it owns every namespace made or joined after it.
    for namespace in sorted(spec.linux.namespaces, key=lambda n: n.type != "user"):
        if skip_pid and namespace.type == "pid":
            continue
        if namespace.type == "user" and not namespace.path:
            _new_user_namespace(channel)
            continue
        flag = ns.BY_NAME[namespace.type]
        if namespace.path:
            explain.step(f"join the {namespace.type} namespace at {namespace.path}",
                         "the config asks to share an existing namespace")
            try:
                fd = os.open(namespace.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    ns.setns(fd, flag)
                finally:
                    os.close(fd)
            except OSError as e:
                hint = f" (is it a {namespace.type} namespace?)" if e.errno == errno.EINVAL else ""
                raise CartonError(f"cannot join the {namespace.type} namespace at "
                                  f"{namespace.path}: {describe(e)}{hint}") from None
        else:
            new |= flag
    if new:
        explain.step("make new namespaces",
                     "each kind gives the container its own view of one thing: mounts, "
                     "hostname, IPC, network, cgroup root")
        ns.unshare(new)
