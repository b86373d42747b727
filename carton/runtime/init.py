"""The container's init: the process that becomes the container.

This code runs in the child that ``create`` forks inside the new namespaces:
it is PID 1 of the new PID namespace, alone in a new mount namespace. It
turns the host's view of the world into the container's, one named step at
a time (the lists below are the whole story; ``--explain`` reads them out),
tells the parent it is ready, waits for ``start``, and finally replaces
itself with the user's command by execve(2).

The order is not arbitrary, and each list says why where it matters:

* mounts become private *before* anything is mounted, or mounts would leak
  to the host;
* everything is mounted *before* pivot_root, while host paths (volume
  sources) are still reachable;
* the command is looked up *after* pivot_root, because it must be found in
  the container's filesystem, volumes included, not the host's;
* the user ID changes after every step that needs root, just before execve;
* execve comes last, with every fd but stdio closed on exec.
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import os
import stat

from .. import explain
from ..errors import EXIT_CARTON, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, CartonError
from ..linux import caps as linux_caps
from ..linux import ids, net, tty, uts
from ..linux import mount as m
from ..linux import process as proc
from ..linux.fs import cloexec_from
from ..linux.libc import describe
from ..rootfs import devices, mounts, pivot, protect
from ..rootfs import options as mount_options
from .steps import Step, StepFailed, run_steps

# Why each kind of kernel filesystem is mounted, for the narration.
_MOUNT_WHY = {
    "proc": "ps, top and /proc/self read the new PID namespace from here",
    "sysfs": "programs read /sys; read-only, so they cannot change the host kernel's settings",
    "devpts": "a private instance of /dev/pts: terminals made inside are the container's own",
    "mqueue": "POSIX message queues that belong to the container's own IPC namespace",
    "cgroup": "the container's own view of its cgroups",
}

_TMPFS_WHY = {
    "/dev": "a /dev of our own, so the host's devices stay out of sight",
    "/dev/shm": "POSIX shared memory (shm_open) private to the container",
}



class InitContext:
    """What the steps share: the spec, the channel to the parent, and what earlier steps made."""

    def __init__(self, spec, channel, fifo_fd=None, preserve_fds=0):
        self.spec = spec
        self.channel = channel
        self.fifo_fd = fifo_fd      # an O_PATH fd of the exec FIFO, from the helper
        self.preserve_fds = preserve_fds
        self.hook_state = {}        # id, bundle, annotations: what hooks read on stdin
        self.cgroup_paths = {}      # the container's cgroup directories (a fallback for mounts)
        self.root_fd = None
        self.exec_path = None
        self.console = None  # (master, slave) with a terminal
        self.env = _env_dict(spec.process.env)


def setup_steps(spec):
    """The steps that build the container, before it is reported ready."""
    linux = spec.linux
    steps = [
        Step("start a new session", "the container is cut off from the caller's terminal "
             "and its job control, and may get a terminal of its own (setsid(2))",
             _new_session),
        Step("make all mounts private",
             "so nothing mounted for the container propagates back to the host",
             _make_private),
        Step(f"bind {spec.root_path} onto itself",
             "pivot_root(2) needs the new root to be a mount point of its own",
             _bind_root),
    ]
    if spec.confine_devices:
        steps.append(Step("mount the root nodev", "no device cgroup here (cgroup v2 without an "
                          "eBPF filter): device nodes shipped in the rootfs must not open",
                          lambda ctx: mounts.remount_path(spec.root_path, m.MS_NODEV)))
    for mnt in spec.mounts:
        steps.append(_mount_step(mnt))
    if _has_fresh_dev(spec):
        steps.append(Step("create device nodes in /dev",
                          "programs need null, zero, random, tty...; the host's disks stay out",
                          lambda ctx: devices.make_default_devices(ctx.root_fd)))
        steps.append(Step("create /dev/fd, /dev/stdin, /dev/ptmx and friends",
                          "the usual links that shells and libc expect",
                          lambda ctx: devices.make_default_links(ctx.root_fd)))
    if spec.linux.devices:
        steps.append(Step("create the config's devices",
                          "linux.devices: device nodes the config asks for",
                          lambda ctx: devices.make_devices(ctx.root_fd, spec.linux.devices)))
    if spec.hooks.get("prestart") or spec.hooks.get("createRuntime"):
        steps.append(Step("run the createRuntime hooks (in carton)",
                          "the runtime-spec's point: namespaces made, pivot_root not yet",
                          _runtime_hooks))
    if spec.hooks.get("createContainer"):
        steps.append(Step("run the createContainer hooks",
                          "in the container's namespaces, before pivot_root",
                          lambda ctx: _run_hooks(ctx, "createContainer", "creating")))
    steps.append(Step(f"pivot_root into {spec.root_path}",
                      "the rootfs becomes '/', and the host's root is unmounted from view",
                      _enter_root))
    if linux.sysctl:
        # Before the read-only paths below: /proc/sys is one of them.
        steps.append(Step("apply sysctl settings", "namespaced kernel settings from the config",
                          _apply_sysctl))
    if linux.masked_paths:
        steps.append(Step("mask host kernel files in /proc and /sys",
                          "files like /proc/kcore and /proc/keys expose the host kernel",
                          lambda ctx: [protect.mask(p) for p in linux.masked_paths]))
    if linux.readonly_paths:
        steps.append(Step("make /proc/sys and friends read-only",
                          "they are the host kernel's settings, shared by every container",
                          lambda ctx: [protect.make_readonly(p) for p in linux.readonly_paths]))
    if linux.rootfs_propagation and "private" not in linux.rootfs_propagation:
        steps.append(Step(f"make the root {linux.rootfs_propagation}",
                          "rootfsPropagation, given to the container's own root only now: on "
                          "the old '/' a shared mount would have reached the host, and the "
                          "masks above need bindable mounts", _root_propagation))
    if spec.hostname is not None and linux.namespace("uts"):
        steps.append(Step(f"set the hostname to {spec.hostname}",
                          "this UTS namespace has a hostname of its own",
                          lambda ctx: uts.sethostname(spec.hostname)))
    if spec.domainname is not None and linux.namespace("uts"):
        steps.append(Step(f"set the domain name to {spec.domainname}",
                          "this UTS namespace has a domain name of its own",
                          lambda ctx: uts.setdomainname(spec.domainname)))
    network = linux.namespace("network")
    if network and not network.path:
        steps.append(Step("bring up the loopback device",
                          "a new network namespace starts with only 'lo', and it is down",
                          lambda ctx: net.link_up("lo")))
    steps.append(Step(f"make the working directory {spec.process.cwd}",
                      "docker creates a missing working directory, as root, before the switch",
                      _make_cwd))
    if spec.root_readonly:
        steps.append(Step("remount the root read-only", "--read-only / root.readonly: "
                          "after every step that writes to the root (mount points, workdir)",
                          lambda ctx: pivot.remount_root_readonly()))
    steps.append(Step(f"find {spec.process.args[0]} in the container",
                      "found in the container's filesystem with its $PATH, so a missing "
                      "command is reported now, not as a failed execve later",
                      _find_command))
    if spec.process.terminal:
        steps += terminal_steps()
    return steps


def terminal_steps():
    return [
        Step("open a terminal in the container's /dev/pts",
             "-t: the master side goes to Carton (or the console socket), the slave "
             "becomes stdio", _open_console),
        Step("make the terminal our stdio and controlling terminal",
             "now, not at start: the caller's stdio must be let go (containerd waits for "
             "it to close), and the shell gets job control: Ctrl-C, Ctrl-Z, fg, bg",
             _attach_console),
    ]


def start_steps(spec):
    """The steps between ``start`` and execve: becoming the user and running the command."""
    user = spec.process.user
    steps = []
    process = spec.process
    caps = process.capabilities
    if process.rlimits:
        steps.append(Step("set resource limits", "process.rlimits, e.g. how many files it may "
                          "open; as root, since raising a hard limit needs privilege",
                          _set_rlimits))
    if process.oom_score_adj is not None:
        steps.append(Step(f"set oom_score_adj to {process.oom_score_adj}",
                          "how eager the kernel's OOM killer is to pick this process",
                          lambda ctx: proc.set_oom_score_adj(process.oom_score_adj)))
    if caps is not None:
        steps.append(Step("shrink the capability bounding set",
                          "the ceiling for good: not even a setuid program gets more back",
                          lambda ctx: linux_caps.drop_bounding(caps.bounding)))
        steps.append(Step("keep capabilities across the uid switch",
                          "the config may give a non-root user some capabilities",
                          lambda ctx: linux_caps.keep_caps_on_setuid(True)))
    seccomp = spec.linux.seccomp
    if seccomp and not process.no_new_privileges:
        # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the
        # uid switch below may take away: load it now (runc does the same).
        steps.append(_seccomp_step(spec))
    steps.append(Step(f"switch to uid {user.uid}, gid {user.gid}",
                      "groups, then gid, then uid: once we are not root we could change "
                      "none of them", _switch_user))
    if caps is not None:
        steps.append(Step("set the effective, permitted and inheritable capabilities",
                          "root in the container gets only what the config lists",
                          _set_capabilities))
    if process.no_new_privileges:
        steps.append(Step("set no_new_privs", "setuid programs and file capabilities can "
                          "no longer raise privileges", lambda ctx: proc.set_no_new_privileges()))
        if seccomp:
            steps.append(_seccomp_step(spec))
    steps += [
        Step(f"change into {spec.process.cwd}", "the process's working directory",
             _chdir),
        Step("close the runtime's file descriptors on exec",
             "only stdio (and --preserve-fds) may reach the container's process; an fd of "
             "ours could be a door to the host (CVE-2024-21626)",
             lambda ctx: cloexec_from(3 + ctx.preserve_fds)),
        Step(f"execve {ctx_args(spec)}",
             "the init becomes the user's command, as PID 1",
             _exec),
    ]
    return steps


def _seccomp_step(spec):
    config, program = spec.linux.seccomp, spec.linux.seccomp_program

    def load(ctx):
        from ..linux import seccomp

        if program:  # compiled by carton before the fork (security/seccomp_cache.py)
            seccomp.load_program(program, seccomp.kernel_flags(config))
        else:
            seccomp.load(config)

    return Step("load the seccomp filter", "as late as possible, so our own setup is not "
                "filtered: from here on the kernel refuses the syscalls the profile forbids", load)


def ctx_args(spec):
    return " ".join(spec.process.args)


def preload(spec):
    """Import now what the last steps need: after pivot_root (or setns into the container's
    mount namespace) Carton's own files and the host's libraries are out of reach."""
    if spec.linux.seccomp and not spec.linux.seccomp_program:
        from ..linux import seccomp

        seccomp.preload()
    if spec.hooks.get("startContainer"):
        import subprocess  # noqa: F401  (hooks.run uses it)

        from . import hooks  # noqa: F401
    if spec.process.terminal:
        import termios  # noqa: F401


def main(spec, channel, fifo_fd, preserve_fds=0, hook_state=None, cgroup_paths=None):
    """The whole life of the init, run in the forked child; never returns."""
    ctx = InitContext(spec, channel, fifo_fd, preserve_fds)
    ctx.cgroup_paths = cgroup_paths or {}
    ctx.hook_state = dict(hook_state or {})
    # Our PID as the host sees it, for hooks: /proc is still the host's here.
    ctx.hook_state["pid"] = int(os.readlink("/proc/self"))
    _reset_signals()
    try:
        preload(spec)
        run_steps(setup_steps(spec), ctx)
        wait = Step("wait for start", "blocked opening the exec FIFO for writing until `start` "
                    "opens it for reading", _wait_for_start)
        # Narrated before "ready", so that it comes out before carton's "start".
        explain.step(wait.title, wait.why)
        channel.send("ready", fds=[ctx.console[0]] if ctx.console else ())
        if ctx.console:
            os.close(ctx.console[0])
        try:
            wait.action(ctx)
        except Exception as e:
            raise StepFailed(wait, e) from e
        if spec.hooks.get("startContainer"):
            run_steps([Step("run the startContainer hooks", "inside the container, just "
                            "before the user's program",
                            lambda ctx: _run_hooks(ctx, "startContainer", "created"))], ctx)
        run_steps(start_steps(spec), ctx)
    except StepFailed as failed:
        code, message = _describe(failed)
        _report_and_exit(channel, code, message)
    except BaseException as e:  # a bug of ours: still say something, and never return
        _report_and_exit(channel, EXIT_CARTON, f"internal error in the container's init: "
                                               f"{type(e).__name__}: {e}")
    os._exit(EXIT_CARTON)  # not reached: the last step is execve


def exec_main(spec, channel, preserve_fds=0):
    """The life of a process that ``exec`` started in a running container; never returns.

    It is already in the container's namespaces and cgroup (its parent joined
    them); it only finds its command, gets a terminal if asked, and takes the
    same final steps as the init: limits, capabilities, user, execve.
    """
    ctx = InitContext(spec, channel, None, preserve_fds)
    _reset_signals()
    steps = [Step("start a new session", "away from carton's terminal", _new_session),
             Step(f"find {spec.process.args[0]} in the container",
                  "with the process's own $PATH, inside the container's root", _find_command)]
    if spec.process.terminal:
        steps += terminal_steps()
    try:
        run_steps(steps, ctx)
        channel.send("ready", fds=[ctx.console[0]] if ctx.console else ())
        if ctx.console:
            os.close(ctx.console[0])
        run_steps(start_steps(spec), ctx)
    except StepFailed as failed:
        code, message = _describe(failed)
        _report_and_exit(channel, code, message)
    except BaseException as e:
        _report_and_exit(channel, EXIT_CARTON, f"internal error in exec: {type(e).__name__}: {e}")
    os._exit(EXIT_CARTON)


def _wait_for_start(ctx):
    """Block until ``start``: open the exec FIFO for writing, which waits for its reader.

    The FIFO lives in the host's state directory, out of reach since
    pivot_root; the O_PATH fd taken before reopens it through /proc/self/fd.
    If ``start`` never comes, ``delete`` kills us here.
    """
    global _fifo_writer
    fd = os.open(f"/proc/self/fd/{ctx.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.close(ctx.fifo_fd)
    os.write(fd, b"0")
    # Kept open, and close-on-exec: `start` reads on until end-of-file, which comes
    # with our execve (then poststart hooks may run), or an "E" and why we failed.
    _fifo_writer = fd


# -- the steps --------------------------------------------------------------------


def _runtime_hooks(ctx):
    """Ask carton, in the host's namespaces, to run prestart/createRuntime hooks; wait for it."""
    ctx.channel.send("hooks", pid=ctx.hook_state["pid"])
    reply = ctx.channel.recv()
    if reply is None or reply["type"] != "hooks-done":
        os._exit(EXIT_CARTON)  # carton failed the hooks and will report it


def _run_hooks(ctx, kind, status):
    from . import hooks

    state = dict(ctx.hook_state, status=status, pid=ctx.hook_state.get("pid", 0))
    hooks.run(kind, ctx.spec.hooks.get(kind, []), state)


def _set_rlimits(ctx):
    for r in ctx.spec.process.rlimits:
        proc.set_rlimit(r.type, r.soft, r.hard)


def _set_capabilities(ctx):
    caps = ctx.spec.process.capabilities
    linux_caps.keep_caps_on_setuid(False)
    linux_caps.set_capabilities(caps.effective, caps.permitted, caps.inheritable)
    if caps.ambient:
        linux_caps.set_ambient(caps.ambient)


def _new_session(ctx):
    explain.call("setsid")
    os.setsid()


def _make_private(ctx):
    propagation = mount_options.PROPAGATION[ctx.spec.linux.rootfs_propagation or "rprivate"]
    m.mount(None, "/", None, propagation)
    # pivot_root(2) refuses a new root whose parent mount is shared, and an
    # unbindable mount cannot be bound at all. So unless everything is private
    # already, make just the mount holding the rootfs private (in our namespace
    # only); the propagation asked for goes to the new root after pivot_root.
    if propagation != m.MS_PRIVATE | m.MS_REC:
        m.mount(None, mounts.mount_point_of(ctx.spec.root_path), None, m.MS_PRIVATE)


def _bind_root(ctx):
    mounts.bind_root(ctx.spec.root_path)
    ctx.root_fd = os.open(ctx.spec.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _mount_step(mnt):
    if mnt.destination in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
        title = f"bind {mnt.source} to {mnt.destination}"
        why = "the container's own copy, written by Carton, as docker provides it"
    elif mnt.type == "bind" or "bind" in mnt.options or "rbind" in mnt.options:
        title = f"bind {mnt.source} to {mnt.destination}"
        why = "a volume: a host path shared with the container"
    elif mnt.type == "tmpfs":
        title = f"mount tmpfs on {mnt.destination}"
        why = _TMPFS_WHY.get(mnt.destination, "a memory-backed directory, gone at exit")
    else:
        title = f"mount {mnt.type} on {mnt.destination}"
        why = _MOUNT_WHY.get(mnt.type, "asked for by the config's mounts")
    return Step(title, why, lambda ctx: mounts.mount_entry(ctx.root_fd, mnt, ctx.cgroup_paths))


def _has_fresh_dev(spec):
    return any(mt.destination.rstrip("/") == "/dev" and mt.type == "tmpfs" for mt in spec.mounts)


def _enter_root(ctx):
    os.close(ctx.root_fd)
    pivot.enter_root(ctx.spec.root_path)
    ctx.root_fd = None


def _root_propagation(ctx):
    m.mount(None, "/", None, mount_options.PROPAGATION[ctx.spec.linux.rootfs_propagation])


def _apply_sysctl(ctx):
    for key, value in ctx.spec.linux.sysctl.items():
        # "net.ipv4.ip_forward" or already a path, "net/ipv4/conf/eth0.100/forwarding".
        path = "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))
        explain.call("write", path, value)
        with open(path, "w") as f:
            f.write(value)


def _make_cwd(ctx):
    cwd = ctx.spec.process.cwd
    if not os.path.isdir(cwd):
        explain.call("mkdir", cwd, explain.Raw("0755"))
        os.makedirs(cwd, 0o755, exist_ok=True)


def _find_command(ctx):
    name = ctx.spec.process.args[0]
    if "/" in name:
        ctx.exec_path = _check_executable(os.path.join(ctx.spec.process.cwd, name), name)
        return
    search = ctx.env.get("PATH", "")
    for directory in search.split(":"):
        # An empty or relative entry is relative to the working directory, as for execvp(3).
        candidate = os.path.join(ctx.spec.process.cwd, directory, name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            ctx.exec_path = candidate
            return
    raise CartonError(f"{name}: executable file not found in the container's $PATH ({search})",
                      EXIT_NOT_FOUND)


def _check_executable(path, name):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CartonError(f"{name}: no such file in the container", EXIT_NOT_FOUND) from None
    except NotADirectoryError:
        raise CartonError(f"{name}: no such file in the container (a parent is not a "
                          "directory)", EXIT_NOT_FOUND) from None
    if stat.S_ISDIR(st.st_mode):
        raise CartonError(f"{name}: is a directory in the container", EXIT_NOT_EXECUTABLE)
    if not st.st_mode & 0o111 or not stat.S_ISREG(st.st_mode):
        raise CartonError(f"{name}: permission denied in the container: not an executable "
                          "file", EXIT_NOT_EXECUTABLE)
    return path


def _open_console(ctx):
    master, slave = tty.open_pty()
    size = ctx.spec.process.console_size
    if size:
        tty.set_size(slave, *size)
    ctx.console = (master, slave)


def _attach_console(ctx):
    slave = ctx.console[1]
    tty.set_controlling_terminal(slave)
    for fd in (0, 1, 2):
        explain.call("dup2", slave, fd)
        os.dup2(slave, fd)
    os.close(slave)


def _switch_user(ctx):
    user = ctx.spec.process.user
    ids.setgroups(user.additional_gids)
    ids.setresgid(user.gid)
    ids.setresuid(user.uid)
    umask = 0o022 if user.umask is None else user.umask
    explain.call("umask", explain.Raw(f"0{umask:03o}"))
    os.umask(umask)


def _chdir(ctx):
    explain.call("chdir", ctx.spec.process.cwd)
    os.chdir(ctx.spec.process.cwd)


def _exec(ctx):
    explain.call("execve", ctx.exec_path, ctx.spec.process.args)
    try:
        os.execve(ctx.exec_path, ctx.spec.process.args, ctx.env)
    except (PermissionError, IsADirectoryError) as e:
        raise CartonError(f"{ctx.spec.process.args[0]}: {e.strerror} (as uid "
                          f"{os.getuid()})", EXIT_NOT_EXECUTABLE) from None
    except FileNotFoundError:
        raise CartonError(f"{ctx.spec.process.args[0]}: no such file in the container, or its "
                          "interpreter is missing", EXIT_NOT_FOUND) from None
    except OSError as e:
        raise CartonError(f"{ctx.spec.process.args[0]}: {e.strerror}",
                          EXIT_NOT_EXECUTABLE) from None


# -- helpers ------------------------------------------------------------------------


def _reset_signals():
    """Give the init default signal handling, as a freshly exec'd program has.

    Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored
    across execve(2): left alone, ``yes | head`` in the container would never
    end. Our handlers (for forwarding) would be reset by exec anyway, but they
    must not run in the init while it sets up.
    """
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # 32 and 33 belong to glibc's threads
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _env_dict(env):
    result = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep:
            result[key] = value
    return result


_fifo_writer = None  # the exec FIFO, once `start` has opened it


def _report_and_exit(channel, code, message):
    """Tell whoever listens why we fail, then exit ``code``.

    After ``start`` that is the reader of the exec FIFO; before, carton on the
    channel; if neither is there any more, stderr (the container's log).
    """
    try:
        if _fifo_writer is not None:
            os.write(_fifo_writer, f"E{code} {message}".encode())
            return
        try:
            channel.send("error", message=message, code=code)
        except OSError:
            os.write(2, f"carton: {message}\n".encode())
    except OSError:
        pass
    finally:
        os._exit(code)


def _describe(failed):
    """Turn a failed step into (exit code, one-line message)."""
    error = failed.error
    if isinstance(error, CartonError):
        return error.exit_code, str(error)
    if isinstance(error, OSError) and getattr(error, "syscall", None):
        detail = describe(error)
    elif isinstance(error, OSError) and error.strerror:
        detail = error.strerror + (f": {error.filename}" if error.filename else "")
    else:
        detail = str(error) or type(error).__name__
    return EXIT_CARTON, f"{failed.step.title}: {detail}"
