"""The runc-compatible verbs: what containerd, podman and other engines call.

Names, flags, output formats and exit codes follow runc's command line, so
that ``ctr run --runc-binary carton`` and ``podman --runtime carton`` work.
Errors exit 1, as runc's do. Each verb is a small function that parses its
flags and calls the runtime core.
"""

import os
import sys

from ..errors import CartonError
from .args import Option, parse, usage

# Flags that only runc's `run` has: any of them makes `carton run` the OCI verb.
OCI_RUN_FLAGS = {"-b", "--bundle", "-d", "--detach", "--pid-file", "--console-socket",
                 "--no-pivot", "--no-new-keyring", "--preserve-fds", "--keep", "--no-subreaper"}

CREATE_OPTIONS = [
    Option("-b,--bundle", "path to the bundle (default: the current directory)", value=True),
    Option("--pid-file", "write the init's PID to this file", value=True, metavar="FILE"),
    Option("--console-socket", "unix socket to receive the terminal's master fd", value=True,
           metavar="PATH"),
    Option("--no-pivot", "accepted for compatibility; Carton always uses pivot_root"),
    Option("--no-new-keyring", "accepted: Carton does not make session keyrings"),
    Option("--preserve-fds", "pass N more fds (3..N+2) to the container", value=True,
           metavar="N"),
    Option("--explain", "narrate every setup step (Carton's own flag)"),
    Option("-h,--help", "show this help"),
]
RUN_OPTIONS = CREATE_OPTIONS[:-1] + [
    Option("-d,--detach", "return after start, leaving the container running"),
    Option("--keep", "accepted; Carton deletes a foreground container at exit"),
    Option("--no-subreaper", "accepted for compatibility"),
    Option("-h,--help", "show this help"),
]


def is_oci_run(argv):
    """Does ``carton run ARGV`` mean runc's ``run [FLAGS] ID`` rather than ``run ROOTFS CMD``?"""
    positionals = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.split("=", 1)[0] in OCI_RUN_FLAGS:
            return True
        if not arg.startswith("-"):
            positionals = argv[i:]
            break
        i += 1
    return len(positionals) == 1 and "/" not in positionals[0]


def _one_id(rest, verb):
    if len(rest) != 1:
        raise CartonError(f'"{verb}" requires exactly 1 argument: the container id', 1)
    return rest[0]


def _help(values, synopsis, options):
    if values.get("help"):
        sys.stdout.write(usage(synopsis, "", options))
        return True
    return False


def _create_options(values, bundle):
    from ..runtime.create import CreateOptions

    if values.get("explain"):
        from .. import explain

        explain.enable(2)

    preserve = values.get("preserve_fds") or "0"
    if not preserve.isdigit():
        raise CartonError(f"invalid --preserve-fds {preserve!r}: expected a number", 1)
    return CreateOptions(bundle=bundle, pid_file=_abs(values.get("pid_file")),
                         console_socket=values.get("console_socket"), preserve_fds=int(preserve))


def _abs(path):
    return os.path.abspath(path) if path else None


def _load(values):
    from ..spec.load import load_bundle

    bundle = os.path.abspath(values.get("bundle") or ".")
    return bundle, load_bundle(bundle)


# -- verbs ------------------------------------------------------------------------


def create(argv, root):
    values, rest = parse(argv, CREATE_OPTIONS, exit_code=1, interspersed=True)
    if _help(values, "carton create [OPTIONS] ID", CREATE_OPTIONS):
        return 0
    container_id = _one_id(rest, "create")
    bundle, spec = _load(values)
    from ..runtime.create import create as create_container

    create_container(root, container_id, spec, _create_options(values, bundle))
    return 0


def run(argv, root):
    values, rest = parse(argv, RUN_OPTIONS, exit_code=1, interspersed=True)
    if _help(values, "carton run [OPTIONS] ID", RUN_OPTIONS):
        return 0
    container_id = _one_id(rest, "run")
    bundle, spec = _load(values)
    from ..runtime.run import run_foreground

    return run_foreground(root, container_id, spec, _create_options(values, bundle),
                          interactive=True, detach=values["detach"])


def start(argv, root):
    values, rest = parse(argv, [], exit_code=1)
    from ..runtime.start import start as start_container

    start_container(root, _one_id(rest, "start"))
    return 0


def state(argv, root):
    import json

    values, rest = parse(argv, [], exit_code=1)
    from ..runtime.state import oci_state, open_state

    sd, record = open_state(root, _one_id(rest, "state"))
    print(json.dumps(oci_state(sd, record), indent=2))
    return 0


KILL_OPTIONS = [Option("-a,--all", "signal every process in the container")]


def kill(argv, root):
    values, rest = parse(argv, KILL_OPTIONS, exit_code=1, interspersed=True)
    if len(rest) not in (1, 2):
        raise CartonError('"kill" requires 1 or 2 arguments: ID [SIGNAL]', 1)
    from ..runtime.kill import kill as kill_container
    from ..runtime.kill import parse_signal

    sig = parse_signal(rest[1] if len(rest) == 2 else "SIGTERM")
    kill_container(root, rest[0], sig, values["all"])
    return 0


DELETE_OPTIONS = [Option("-f,--force", "kill the container first if it is still running")]


def delete(argv, root):
    values, rest = parse(argv, DELETE_OPTIONS, exit_code=1, interspersed=True)
    from ..runtime.delete import delete as delete_container
    from ..runtime.state import StateDir, check_id

    container_id = _one_id(rest, "delete")
    check_id(container_id)
    if values["force"] and not StateDir(root, container_id).exists():
        return 0  # runc: deleting a missing container with --force is not an error
    delete_container(root, container_id, values["force"])
    return 0


LIST_OPTIONS = [Option("-f,--format", "table or json", value=True),
                Option("-q,--quiet", "print only the ids")]


def list_(argv, root):
    import json

    values, rest = parse(argv, LIST_OPTIONS, exit_code=1)
    from ..runtime.state import list_states, oci_state

    states = [oci_state(sd, record) for sd, record in list_states(root)]
    states.sort(key=lambda s: s["created"])
    fmt = values["format"] or "table"
    if values["quiet"]:
        for s in states:
            print(s["id"])
    elif fmt == "json":
        print(json.dumps(states))
    elif fmt == "table":
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], "root")
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    else:
        raise CartonError(f"invalid format option {fmt!r}: use table or json", 1)
    return 0


PS_OPTIONS = [Option("-f,--format", "table or json", value=True)]


def ps(argv, root):
    import json

    values, rest = parse(argv, PS_OPTIONS, exit_code=1)
    if not rest:
        raise CartonError('"ps" requires a container id', 1)
    from .. import cgroups
    from ..runtime.state import open_state

    sd, record = open_state(root, rest[0])
    pids = sorted(cgroups.from_paths(record["cgroup_paths"]).pids())
    fmt = values["format"] or "table"
    if fmt == "json":
        print(json.dumps(pids))
        return 0
    if fmt != "table":
        raise CartonError(f"invalid format option {fmt!r}: use table or json", 1)
    import subprocess

    ps_args = rest[1:] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True)
    if out.returncode:
        raise CartonError(f"ps {' '.join(ps_args)}: {out.stderr.strip()}", 1)
    lines = out.stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise CartonError("ps: no PID column in its output", 1)
    column = header.index("PID")
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
            print(line)
    return 0


def pause(argv, root):
    return _freeze(argv, root, True)


def resume(argv, root):
    return _freeze(argv, root, False)


def _freeze(argv, root, freeze):
    values, rest = parse(argv, [], exit_code=1)
    container_id = _one_id(rest, "pause" if freeze else "resume")
    from .. import cgroups
    from ..runtime.state import open_state, status

    sd, record = open_state(root, container_id)
    current = status(sd, record)
    if freeze and current != "running":
        raise CartonError(f"container not running: {container_id}", 1)
    if not freeze and current != "paused":
        raise CartonError(f"container not paused: {container_id}", 1)
    cgroup = cgroups.from_paths(record["cgroup_paths"])
    if freeze:
        cgroup.freeze()
    else:
        cgroup.thaw()
    return 0


EVENTS_OPTIONS = [Option("--stats", "print the container's statistics once, and exit"),
                  Option("--interval", "time between statistics (default 5s)", value=True)]

OOM_POLL = 0.1  # seconds between looks at the OOM counter (and at whether the container is gone)


def events(argv, root):
    """runc's ``events``: a stats event every ``--interval``, an ``oom`` event whenever the OOM
    killer takes a process of the container, one JSON object per line, until the container stops.

    runc is told of OOM kills by the kernel (an eventfd on v1's ``memory.oom_control``, inotify
    on v2's ``memory.events``); Carton reads the same counter (``oom_count()``) ten times a
    second, which works the same way on both versions and costs one small read.
    """
    import json
    import time

    values, rest = parse(argv, EVENTS_OPTIONS, exit_code=1, interspersed=True)
    container_id = _one_id(rest, "events")
    interval = _duration(values["interval"] or "5s")
    from .. import cgroups
    from ..runtime.state import open_state, status

    sd, record = open_state(root, container_id)
    if status(sd, record) == "stopped":
        raise CartonError(f"container {container_id} is not running", 1)
    cgroup = cgroups.from_paths(record["cgroup_paths"])

    def emit(event):
        print(json.dumps(event), flush=True)

    def gone():
        return not sd.exists() or status(sd, record) == "stopped"

    seen = cgroup.oom_count() or 0

    def report_ooms():
        nonlocal seen
        count = cgroup.oom_count()
        if count is not None and count > seen:
            for _ in range(count - seen):
                emit({"type": "oom", "id": container_id})
            seen = count

    import gc

    gc.enable()  # off while starting (bin/carton); this loop may run for days
    next_stats = time.monotonic()
    try:
        while True:
            report_ooms()
            if gone():
                report_ooms()  # the kernel counts a kill just after sending it: look once more
                return 0
            if time.monotonic() >= next_stats:
                try:
                    data = cgroup.stats()
                except CartonError:
                    if gone():  # deleted while we read: its files went away under us
                        return 0
                    raise
                emit({"type": "stats", "id": container_id, "data": data})
                if values["stats"]:
                    return 0
                next_stats = max(next_stats + interval, time.monotonic())
            time.sleep(max(0.0, min(OOM_POLL, next_stats - time.monotonic())))
    except BrokenPipeError:
        return 0  # whoever read our events has gone: so do we


def _duration(text):
    """Go-style durations as runc takes them: 5s, 500ms, 1m."""
    for suffix, scale in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(suffix):
            number = text[: -len(suffix)]
            try:
                value = float(number) * scale
            except ValueError:
                break
            if value > 0:
                return value
    raise CartonError(f"invalid interval {text!r}: use a duration like 5s or 500ms", 1)


UPDATE_OPTIONS = [
    Option("-r,--resources", "a JSON file (or - for stdin) of OCI linux.resources; the other "
           "options are then ignored, as in runc", value=True, metavar="FILE"),
    Option("--memory", "memory limit: bytes, or 512m, 1g; -1 for none", value=True, metavar="SIZE"),
    Option("--memory-swap", "memory plus swap limit; -1 for unlimited swap", value=True, metavar="SIZE"),
    Option("--memory-reservation", "soft memory limit", value=True, metavar="SIZE"),
    Option("--kernel-memory", "ignored (kernel memory limits are gone from the kernel)", value=True),
    Option("--kernel-memory-tcp", "ignored (kernel memory limits are gone from the kernel)", value=True),
    Option("--cpu-share,--cpu-shares", "relative CPU weight", value=True, metavar="N"),
    Option("--cpu-period", "CFS period in microseconds", value=True, metavar="US"),
    Option("--cpu-quota", "CFS quota in microseconds per period (-1: none)", value=True, metavar="US"),
    Option("--cpu-burst", "CFS burst in microseconds", value=True, metavar="US"),
    Option("--cpu-rt-period", "real-time period in microseconds", value=True, metavar="US"),
    Option("--cpu-rt-runtime", "real-time runtime in microseconds per period", value=True, metavar="US"),
    Option("--cpu-idle", "1: the SCHED_IDLE policy for the cgroup, 0: normal", value=True, metavar="N"),
    Option("--cpuset-cpus", "CPUs the container may run on: 0-2,4", value=True, metavar="LIST"),
    Option("--cpuset-mems", "memory nodes the container may use: 0-1", value=True, metavar="LIST"),
    Option("--pids-limit", "maximum number of processes (-1: unlimited)", value=True, metavar="N"),
    Option("--blkio-weight", "relative block I/O weight (10-1000)", value=True, metavar="N"),
    Option("-h,--help", "show this help"),
]

# runc's update flags and where they go in linux.resources: (section, field, kind)
_UPDATE_FIELDS = (
    ("memory", "memory", "limit", "memory"), ("memory_swap", "memory", "swap", "memory"),
    ("memory_reservation", "memory", "reservation", "memory"),
    ("cpu_shares", "cpu", "shares", "unsigned"), ("cpu_period", "cpu", "period", "unsigned"),
    ("cpu_quota", "cpu", "quota", "signed"), ("cpu_burst", "cpu", "burst", "unsigned"),
    ("cpu_rt_period", "cpu", "realtimePeriod", "unsigned"),
    ("cpu_rt_runtime", "cpu", "realtimeRuntime", "signed"), ("cpu_idle", "cpu", "idle", "signed"),
    ("cpuset_cpus", "cpu", "cpus", "list"), ("cpuset_mems", "cpu", "mems", "list"),
    ("pids_limit", "pids", "limit", "signed"), ("blkio_weight", "blockIO", "weight", "signed"),
)


def update(argv, root):
    """runc's ``update``: change the limits of a created, running or paused container."""
    import json

    values, rest = parse(argv, UPDATE_OPTIONS, exit_code=1, interspersed=True)
    if _help(values, "carton update [OPTIONS] ID", UPDATE_OPTIONS):
        return 0
    container_id = _one_id(rest, "update")
    from .. import cgroups, log
    from ..runtime.state import open_state, status

    flags = [dest for dest, *_ in _UPDATE_FIELDS if values[dest] not in (None, "")]
    if values["resources"]:
        if flags:
            log.warning("with --resources, the other options are ignored (as in runc)")
        text = sys.stdin.read() if values["resources"] == "-" else _read(values["resources"])
        try:
            resources = json.loads(text)
        except ValueError as e:
            raise CartonError(f"invalid resources JSON: {e}", 1) from None
        if not isinstance(resources, dict):
            raise CartonError("invalid resources JSON: expected an object (OCI linux.resources)", 1)
    else:
        resources = _update_flags(values)
        for flag in ("kernel_memory", "kernel_memory_tcp"):
            if values[flag]:
                log.warning(f"--{flag.replace('_', '-')} is ignored: kernel memory limits are gone "
                            "from the kernel (runc ignores it too)")
    sd, record = open_state(root, container_id)
    lock = sd.lock()  # delete waits for us, so the cgroup does not vanish half-way
    try:
        if status(sd, record) == "stopped":
            raise CartonError(f"cannot update container {container_id}: it is stopped", 1)
        # devices=False: device rules are the container's since create; rewriting them
        # would briefly deny every device to a running container.
        for warning in cgroups.from_paths(record["cgroup_paths"]).apply(resources, devices=False) or ():
            log.warning(warning)
    finally:
        os.close(lock)
    return 0


def _update_flags(values):
    """``linux.resources`` from runc's update flags: sizes with units, plain numbers otherwise."""
    from . import units

    resources = {}
    for dest, section, field, kind in _UPDATE_FIELDS:
        text = values[dest]
        if text in (None, ""):
            continue
        try:
            if kind == "memory":
                value = units.memory_value(text)
            elif kind == "list":
                value = units.cpu_list(text)
            else:
                value = units.integer(text)
                if kind == "unsigned" and value < 0:
                    raise units.UnitError(f"{text!r} is negative")
        except units.UnitError as e:
            raise CartonError(f"invalid --{dest.replace('_', '-')}: {e}", 1) from None
        resources.setdefault(section, {})[field] = value
    memory = resources.get("memory", {})
    if memory.get("limit") == -1 and "swap" not in memory:
        memory["swap"] = -1  # runc: "no memory limit" means no memory+swap limit either
    return resources


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise CartonError(f"cannot read {path}: {e.strerror}", 1) from None


def _int(text, flag):
    try:
        return int(text)
    except ValueError:
        raise CartonError(f"invalid {flag} {text!r}: expected a number", 1) from None


EXEC_OPTIONS = [
    Option("-p,--process", "a JSON file with the OCI process to run", value=True),
    Option("-t,--tty", "give the process a pseudo-terminal"),
    Option("--console-socket", "unix socket to receive the terminal's master fd", value=True),
    Option("-d,--detach", "return once the process has started"),
    Option("--pid-file", "write the process's PID to this file", value=True),
    Option("--cwd", "working directory in the container", value=True),
    Option("-e,--env", "set an environment variable", value=True, many=True),
    Option("-u,--user", "UID[:GID] to run as", value=True),
    Option("-g,--additional-gids", "an additional group id", value=True, many=True),
    Option("-c,--cap", "add a capability", value=True, many=True),
    Option("--no-new-privs", "set no_new_privs"),
    Option("--preserve-fds", "pass N more fds to the process", value=True),
    Option("--apparmor", "AppArmor profile", value=True),
    Option("--process-label", "SELinux label", value=True),
    Option("--ignore-paused", "accepted for compatibility"),
]


def exec_(argv, root):
    import json

    values, rest = parse(argv, EXEC_OPTIONS, exit_code=1)
    if not rest:
        raise CartonError('"exec" requires a container id', 1)
    container_id = rest[0]
    from ..runtime.state import open_state
    from ..spec import load
    from ..spec.model import Linux, Spec, User

    sd, record = open_state(root, container_id)
    base = record.get("process") or {}
    if values["process"]:
        data = _read(values["process"])
        try:
            process = load.process_from_dict(json.loads(data))
        except ValueError as e:
            raise CartonError(f"invalid process JSON {values['process']}: {e}", 1) from None
    else:
        if len(rest) < 2:
            raise CartonError('"exec" requires a command (or --process FILE)', 1)
        process = load.process_from_dict(dict(base, args=rest[1:], terminal=values["tty"]))
        if values["user"]:
            uid, _, gid = values["user"].partition(":")
            process.user = User(_int(uid, "--user"), _int(gid or "0", "--user"))
        process.user.additional_gids = [_int(g, "--additional-gids")
                                        for g in values["additional_gids"]]
        if values["cwd"]:
            process.cwd = values["cwd"]
        process.env = _merge_env(process.env, values["env"])
        if values["cap"] and process.capabilities is not None:
            for cap in values["cap"]:
                for name in ("bounding", "effective", "permitted"):
                    if cap not in getattr(process.capabilities, name):
                        getattr(process.capabilities, name).append(cap)
        if values["no_new_privs"]:
            process.no_new_privileges = True
    if values["apparmor"] or values["process_label"]:
        raise CartonError("AppArmor and SELinux are not available on this host", 1)
    # The container's seccomp filter applies to what is exec'd in it too, as with runc.
    spec = Spec(process, "/", annotations=record.get("annotations"),
                linux=Linux(seccomp=record.get("seccomp")))
    from ..runtime.exec import ExecOptions, exec_process

    preserve = values["preserve_fds"] or "0"
    opts = ExecOptions(values["detach"], _abs(values["pid_file"]), values["console_socket"],
                       _int(preserve, "--preserve-fds"))
    execed = exec_process(root, container_id, spec, opts)
    if opts.detach:
        return 0
    from ..runtime import attach

    restore = attach.forward_signals(execed.pid, execed.console)
    try:
        if execed.console is not None:
            attach.relay_terminal(execed.console, True)
            os.close(execed.console)
        return attach.wait(execed.pid)
    finally:
        restore()


def _merge_env(env, extra):
    merged = {e.partition("=")[0]: e for e in env}
    for e in extra:
        merged[e.partition("=")[0]] = e
    return list(merged.values())


SPEC_OPTIONS = [Option("-b,--bundle", "where to write config.json", value=True),
                Option("--rootless", "a config for a container without root")]


def spec(argv, root):
    import json

    values, rest = parse(argv, SPEC_OPTIONS, exit_code=1)
    from ..spec.template import default_config

    path = os.path.join(values["bundle"] or ".", "config.json")
    if os.path.exists(path):
        raise CartonError(f"{path} exists: remove it first", 1)
    try:
        with open(path, "w") as f:
            json.dump(default_config(rootless=values["rootless"]), f, indent=2)
            f.write("\n")
    except OSError as e:
        raise CartonError(f"cannot write {path}: {e.strerror}", 1) from None
    return 0


def features(argv, root):
    import json

    from ..linux.caps import NAMES
    from ..rootfs.options import FLAGS, PROPAGATION
    from ..spec.model import HOOK_KINDS

    print(json.dumps({
        "ociVersionMin": "1.0.0", "ociVersionMax": "1.2.0",
        "hooks": list(HOOK_KINDS),
        "mountOptions": sorted(list(FLAGS) + list(PROPAGATION)),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": NAMES,
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True, "actions": [
                "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]},
            "apparmor": {"enabled": False}, "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runtime-spec.features": "carton"},
    }, indent=2))
    return 0


VERBS = {
    "create": create, "start": start, "state": state, "kill": kill, "delete": delete,
    "list": list_, "ls": list_, "ps": ps, "pause": pause, "resume": resume, "events": events,
    "update": update, "exec": exec_, "spec": spec, "features": features,
}
