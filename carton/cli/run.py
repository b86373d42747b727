"""``carton run [OPTIONS] ROOTFS COMMAND [ARG...]``: docker's ``run``, for a root filesystem.

This front door has no container code of its own. It turns docker-style
flags into an OCI ``Spec`` (``build_request``), then drives the runtime core
like any other client: ``create``, ``start``, wait, remove. Everything a
user can get wrong is checked here, before anything is made on the host.
Resource limits (``--memory``, ``--cpus``, ...) keep docker's names, units
and rules and become the spec's ``linux.resources`` (``build_resources``);
sizes are read by ``units.py``.
"""

import os
import sys

from .. import explain
from ..errors import CartonError
from ..rootfs import etcfiles, passwd
from ..rootfs import options as mount_options
from ..rootfs.paths import open_in_root
from ..spec import defaults
from ..spec.model import Linux, Mount, Process, Spec, User
from . import units
from .args import Option, parse, usage

SYNOPSIS = "carton run [OPTIONS] ROOTFS COMMAND [ARG...]"
DESCRIPTION = "Run COMMAND in a new container whose root filesystem is the directory ROOTFS."

OPTIONS = [
    Option("--name", "a name for the container", value=True),
    Option("-h,--hostname", "the container's hostname (default: its short id)", value=True),
    Option("-e,--env", "set an environment variable (KEY=VALUE, or KEY to pass the host's)",
           value=True, many=True, metavar="KEY=VALUE"),
    Option("--env-file", "read environment variables from a file, one per line",
           value=True, many=True, metavar="FILE"),
    Option("-w,--workdir", "working directory inside the container (absolute)", value=True,
           metavar="DIR"),
    Option("-u,--user", "run as NAME|UID[:GROUP|GID], looked up in the rootfs", value=True,
           metavar="USER"),
    Option("-v,--volume", "bind-mount a host path: HOST:CONTAINER[:ro|rw]", value=True,
           many=True, metavar="HOST:CTR[:OPTS]"),
    Option("--read-only", "mount the root filesystem read-only"),
    Option("--tmpfs", "mount a tmpfs at PATH (options as mount(8): size=64m,mode=1777)",
           value=True, many=True, metavar="PATH[:OPTS]"),
    Option("--network,--net", "bridge (default), none, host, container:NAME|ID, or a network "
           "made with carton network create", value=True, metavar="NETWORK", dest="network"),
    Option("-p,--publish", "publish a container's port on the host: [IP:]HOST_PORT:CONTAINER_PORT"
           "[/tcp|udp], ranges as 8000-8009:80-89", value=True, many=True, metavar="PORTS"),
    Option("--dns", "a nameserver for the container's resolv.conf (instead of the host's)",
           value=True, many=True, metavar="IP"),
    Option("--dns-search", "a search domain for the container's resolv.conf", value=True,
           many=True, metavar="DOMAIN"),
    Option("--add-host", "an extra /etc/hosts entry: NAME:IP", value=True, many=True,
           metavar="NAME:IP"),
    Option("-i,--interactive", "keep stdin open and connected to the container"),
    Option("-t,--tty", "give the container a pseudo-terminal"),
    # resource limits (docker's names and units; see build_resources)
    Option("-m,--memory", "memory limit: 512m, 1g, 1.5g (at least 6m)", value=True, metavar="SIZE"),
    Option("--memory-swap", "memory plus swap limit, -1 for unlimited swap (default: twice --memory)",
           value=True, metavar="SIZE"),
    Option("--memory-reservation", "soft memory limit, below --memory", value=True, metavar="SIZE"),
    Option("--oom-kill-disable", "do not let the OOM killer take the container's processes"),
    Option("--cpus", "how many CPUs' worth of time: 1.5, 0.5", value=True, metavar="N"),
    Option("-c,--cpu-shares", "relative CPU weight (default 1024)", value=True, metavar="N"),
    Option("--cpu-period", "CFS period in microseconds (1000-1000000)", value=True, metavar="US"),
    Option("--cpu-quota", "CFS quota in microseconds per period (-1: none)", value=True, metavar="US"),
    Option("--cpuset-cpus", "CPUs the container may run on: 0-2,4", value=True, metavar="LIST"),
    Option("--cpuset-mems", "memory nodes the container may use: 0-1", value=True, metavar="LIST"),
    Option("--pids-limit", "maximum number of processes (-1 or 0: unlimited)", value=True, metavar="N"),
    Option("--blkio-weight", "relative block I/O weight (10-1000)", value=True, metavar="N"),
    Option("--device-read-bps", "limit reads from a block device: /dev/sda:1mb", value=True, many=True,
           metavar="DEV:RATE"),
    Option("--device-write-bps", "limit writes to a block device: /dev/sda:1mb", value=True, many=True,
           metavar="DEV:RATE"),
    Option("--cgroup-parent", "put the container's cgroup below this one (absolute, or relative to "
           "carton's own)", value=True, metavar="PATH"),
    Option("--cap-add", "add a capability (CHOWN, NET_ADMIN, ..., or ALL)", value=True,
           many=True, metavar="CAP"),
    Option("--cap-drop", "drop a capability (or ALL)", value=True, many=True, metavar="CAP"),
    Option("--privileged", "all capabilities and host devices, no seccomp, no masked paths"),
    Option("--security-opt", "no-new-privileges, seccomp=unconfined|PROFILE.json, "
           "apparmor=..., label=...", value=True, many=True, metavar="OPT"),
    Option("--rm", "remove the container when it exits (always true for a foreground run)"),
    Option("--explain", "narrate every setup step: what, which syscall, and why"),
    Option("--help", "show this help"),
]

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_HOST_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def main(argv, root):
    values, rest = parse(argv, OPTIONS)
    if values["help"]:
        sys.stdout.write(usage(SYNOPSIS, DESCRIPTION, OPTIONS))
        return 0
    if len(rest) < 2:
        raise CartonError("carton run requires a ROOTFS and a COMMAND (see carton run --help)")
    if os.geteuid() != 0:
        raise CartonError("carton run needs root: running without root needs rootless "
                          "containers (user namespaces), which Carton does not support yet")
    if values["explain"]:
        explain.enable(2)

    from ..runtime.create import CreateOptions
    from ..runtime.run import run_foreground
    from ..runtime.sweep import sweep

    sweep(root)  # first: a crashed run's orphan may hold the name, an address or a port
    container_id = os.urandom(32).hex()
    request = build_request(values, rest, container_id, root)
    opts = CreateOptions(bundle=request.spec.root_path, name=request.name, files=request.files,
                         network=request.network)
    return run_foreground(root, container_id, request.spec, opts, request.interactive)


class RunRequest:
    """What ``carton run`` asks of the runtime: a spec, and how to attach to it."""

    def __init__(self, spec, name, interactive, files, network=None):
        self.spec = spec
        self.name = name
        self.interactive = interactive
        self.files = files  # {name in the state dir: text}, bind-mounted into /etc
        self.network = network  # network.modes.Choice, for a bridge network; None otherwise


def build_request(values, rest, container_id, root="/run/carton"):
    """Check every flag and build the Spec; raise CartonError on the first bad input."""
    rootfs = _check_rootfs(rest[0])
    args = rest[1:]
    if not args[0]:
        raise CartonError("the command is an empty string")
    name = values["name"]
    if name is not None:
        _check_name(name)
    from ..network import modes

    network = modes.choose(values["network"], values["publish"], root,
                           values["hostname"] is not None)
    hostname = values["hostname"] or network.hostname or container_id[:12]
    _check_hostname(hostname)
    dns = modes.check_dns(values["dns"])
    network.extra_hosts = modes.check_add_hosts(values["add_host"])
    if network.mode == "container" and (dns or values["dns_search"] or network.extra_hosts):
        raise CartonError("conflicting options: --dns, --dns-search and --add-host with "
                          "--network container:... (the other container's files are shared)")
    cwd = values["workdir"] or "/"
    if not cwd.startswith("/"):
        raise CartonError(f"the working directory {cwd!r} is invalid: it must be an "
                          "absolute path")

    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        user = passwd.resolve(root_fd, values["user"] or "0")
        has_etc = _is_dir_in_root(root_fd, "/etc")
    finally:
        os.close(root_fd)

    env = [f"PATH={defaults.DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if values["tty"]:
        env.append("TERM=xterm")
    env.append(f"HOME={user.home}")
    env = _merge_env(env, _env_files(values["env_file"]) + _env_flags(values["env"]))

    user_mounts = [_tmpfs_mount(t) for t in values["tmpfs"]]
    user_mounts += [_volume_mount(v) for v in values["volume"]]
    _check_unique_destinations(defaults.mounts() + user_mounts)
    files = {}
    if has_etc:
        files = _etc_files(network, hostname, dns, values["dns_search"])
        # A volume of the user's on one of these wins, as with docker.
        taken = {m.destination for m in user_mounts}
        files = {f: text for f, text in files.items() if f"/etc/{f}" not in taken}
    # The sources of these binds are names in the state directory; the runtime,
    # which owns that directory, fills in the full paths. With --network
    # container:X they are X's own files, shared.
    etc_mounts = [Mount(f"/etc/{f}", "bind", network.etc_sources.get(f, f), ["rbind", "rprivate"])
                  for f in files]
    files = {f: text for f, text in files.items() if f not in network.etc_sources}
    mounts = defaults.mounts() + etc_mounts + user_mounts
    namespaces = defaults.namespaces()
    if network.mode == "host":
        namespaces = [n for n in namespaces if n.type != "network"]
    elif network.mode == "container":
        for n in namespaces:
            if n.type == "network":
                n.path = network.netns_path

    process = Process(args, env, cwd,
                      User(user.uid, user.gid, user.additional_gids),
                      terminal=bool(values["tty"]),
                      console_size=_caller_terminal_size() if values["tty"] else None)
    linux = Linux(namespaces, defaults.MASKED_PATHS, defaults.READONLY_PATHS,
                  cgroups_path=_cgroups_path(values["cgroup_parent"], container_id),
                  resources=build_resources(values))
    spec = Spec(process, rootfs, root_readonly=bool(values["read_only"]), hostname=hostname,
                mounts=mounts, linux=linux)
    # docker's security defaults, last: they depend on the user and the mounts above.
    from ..security import apply_run_options

    apply_run_options(spec, cap_add=values["cap_add"], cap_drop=values["cap_drop"],
                      privileged=bool(values["privileged"]), security_opts=values["security_opt"])
    return RunRequest(spec, name, bool(values["interactive"]), files,
                      network if network.mode == "bridge" else None)


def _etc_files(network, hostname, dns=(), dns_search=()):
    """/etc/hostname, hosts and resolv.conf, as the network mode wants them.

    On the host's network the host's own hosts and resolv.conf are right as
    they are (its loopback resolver is reachable); in a network namespace of
    its own a container cannot reach the host's 127.0.0.53 (resolv_conf).
    A bridged container's address goes into hosts once it has one (bridge.py).
    ``--dns``, ``--dns-search`` and ``--add-host`` apply in every mode.
    """
    host_resolv = _read_host_file("/etc/resolv.conf")
    if network.mode == "host":
        hosts = _read_host_file("/etc/hosts") or etcfiles.hosts(hostname)
        hosts += "".join(f"{ip}\t{name}\n" for name, ip in network.extra_hosts)
        resolv = (etcfiles.resolv_conf(host_resolv, dns, dns_search) if dns or dns_search
                  else host_resolv)
        return {"hostname": etcfiles.hostname(hostname), "hosts": hosts, "resolv.conf": resolv}
    return {"hostname": etcfiles.hostname(hostname),
            "hosts": etcfiles.hosts(hostname, extra=network.extra_hosts),
            "resolv.conf": etcfiles.resolv_conf(host_resolv, dns, dns_search)}


# -- resource limits ---------------------------------------------------------------

MIN_MEMORY = 6 << 20              # docker's minimum for --memory and --memory-reservation
CFS_PERIOD = 100000               # the period --cpus uses (the kernel's default), microseconds
MIN_SHARES, MAX_SHARES = 2, 262144


def build_resources(values, swap_accounting=None, cpu_count=None):
    """The OCI ``linux.resources`` for docker's limit flags, or ``None`` when none is given.

    docker's rules, checked before anything is made: sizes in its units
    (``units.py``); ``--memory`` at least 6 MiB; ``--memory-swap`` is memory
    *plus* swap (as OCI's ``memory.swap``), at least ``--memory``, -1 for no
    swap limit, and needs ``--memory``; without it, the container may swap
    as much as its memory limit (memory+swap is twice ``--memory``) when
    the kernel accounts swap. ``--cpus N`` is a CFS quota of N periods of
    100 ms per 100 ms, and cannot be mixed with ``--cpu-quota`` or
    ``--cpu-period``. ``0`` means "not set" for every number, as in docker.
    ``swap_accounting`` and ``cpu_count`` are found on the host unless given.
    """
    resources = {}
    memory = _memory_resources(values, swap_accounting)
    if memory:
        resources["memory"] = memory
    cpu = _cpu_resources(values, cpu_count)
    if cpu:
        resources["cpu"] = cpu
    pids = _number(values.get("pids_limit"), "--pids-limit")
    if pids is not None and pids > 0:  # 0 and -1 (any negative): unlimited, as a new cgroup is
        resources["pids"] = {"limit": pids}
    block_io = {}
    weight = _number(values.get("blkio_weight"), "--blkio-weight")
    if weight:
        if not 10 <= weight <= 1000:
            raise CartonError(f"invalid --blkio-weight {weight}: the range is from 10 to 1000")
        block_io["weight"] = weight
    for flag, field in (("device_read_bps", "throttleReadBpsDevice"),
                        ("device_write_bps", "throttleWriteBpsDevice")):
        throttles = [_device_rate(entry, "--" + flag.replace("_", "-")) for entry in values.get(flag) or ()]
        if throttles:
            block_io[field] = throttles
    if block_io:
        resources["blockIO"] = block_io
    if not resources:
        return None
    from .. import cgroups

    cgroups.check(resources)  # the runtime's own checks too, now, before anything is made
    return resources


def _memory_resources(values, swap_accounting):
    limit = _size(values.get("memory"), "--memory")
    reservation = _size(values.get("memory_reservation"), "--memory-reservation")
    swap_text = values.get("memory_swap")
    swap = -1 if swap_text is not None and swap_text.strip() == "-1" else _size(swap_text, "--memory-swap")
    if limit and limit < MIN_MEMORY:
        raise CartonError(f"invalid --memory {values['memory']}: the minimum memory limit is 6 MiB")
    if reservation and reservation < MIN_MEMORY:
        raise CartonError(f"invalid --memory-reservation {values['memory_reservation']}: the minimum "
                          "is 6 MiB")
    if limit and reservation and reservation > limit:
        raise CartonError("--memory-reservation must not be above --memory (it is a soft limit "
                          "below the hard one)")
    if swap and swap > 0 and not limit:
        raise CartonError("--memory-swap needs --memory too: it is the limit on memory plus swap")
    if limit and swap and 0 < swap < limit:
        raise CartonError(f"invalid --memory-swap {swap_text}: it is the limit on memory plus swap, "
                          f"so it must be at least --memory ({values['memory']})")
    memory = {}
    if limit:
        memory["limit"] = limit
        if not swap:
            if swap_accounting is None:
                swap_accounting = _host_accounts_swap()
            if swap_accounting:
                swap = 2 * limit  # docker's default: as much swap as memory
    if swap:
        memory["swap"] = swap
    if reservation:
        memory["reservation"] = reservation
    if values.get("oom_kill_disable"):
        memory["disableOOMKiller"] = True
        if not limit:
            from .. import log

            log.warning("--oom-kill-disable without --memory: the container may use all the "
                        "host's memory, and nothing will stop it")
    return memory


def _cpu_resources(values, cpu_count):
    cpu = {}
    shares = _number(values.get("cpu_shares"), "--cpu-shares")
    if shares:
        if shares < 0:
            raise CartonError(f"invalid --cpu-shares {shares}: it must be a positive number")
        cpu["shares"] = min(max(shares, MIN_SHARES), MAX_SHARES)  # the kernel's range, as docker
    period = _number(values.get("cpu_period"), "--cpu-period")
    quota = _number(values.get("cpu_quota"), "--cpu-quota")
    cpus_text = values.get("cpus")
    nano = 0
    if cpus_text is not None:
        nano = _parse(units.nano_cpus, cpus_text, "--cpus")
    if nano:
        if quota:
            raise CartonError("--cpus and --cpu-quota cannot both be set (--cpus sets the quota)")
        if period:
            raise CartonError("--cpus and --cpu-period cannot both be set (--cpus uses a period of "
                              "100 ms)")
        available = cpu_count or _cpu_count()
        if nano < units.NANO // 100 or nano > available * units.NANO:
            raise CartonError(f"invalid --cpus {cpus_text}: the range is from 0.01 to {available}.00, "
                              f"as there {'is' if available == 1 else 'are'} only {available} "
                              f"CPU{'' if available == 1 else 's'} available")
        period, quota = CFS_PERIOD, nano * CFS_PERIOD // units.NANO
    if period:
        if not 1000 <= period <= 1000000:
            raise CartonError(f"invalid --cpu-period {period}: it must be between 1000 and 1000000 "
                              "microseconds (1 ms to 1 s)")
        cpu["period"] = period
    if quota:
        if 0 < quota < 1000:
            raise CartonError(f"invalid --cpu-quota {quota}: it must be at least 1000 microseconds "
                              "(1 ms), or -1 for none")
        cpu["quota"] = quota if quota > 0 else -1
    for flag, field in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        text = values.get(flag)
        if text:
            cpu[field] = _parse(units.cpu_list, text, "--" + flag.replace("_", "-"))
    return cpu


def _parse(parser, text, flag):
    try:
        return parser(text)
    except units.UnitError as e:
        raise CartonError(f"invalid {flag}: {e}") from None


def _size(text, flag):
    return None if text in (None, "") else _parse(units.ram_in_bytes, text, flag)


def _number(text, flag):
    return None if text in (None, "") else _parse(units.integer, text, flag)


def _device_rate(entry, flag):
    """``/dev/sda:1mb`` -> an OCI throttle ``{"major", "minor", "rate"}`` (bytes per second)."""
    import stat

    path, sep, rate_text = entry.rpartition(":")
    if not sep or not path or not rate_text:
        raise CartonError(f"invalid {flag} {entry!r}: expected DEVICE:RATE, like /dev/sda:1mb")
    if not path.startswith("/dev/"):
        raise CartonError(f"invalid {flag} {entry!r}: the device must be a path in /dev")
    try:
        rate = units.ram_in_bytes(rate_text)
    except units.UnitError:
        raise CartonError(f"invalid {flag} {entry!r}: the rate must be a number of bytes with an "
                          "optional unit (kb, mb, gb), like 1mb") from None
    try:
        st = os.stat(path)
    except OSError as e:
        raise CartonError(f"invalid {flag} {entry!r}: {path}: {e.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise CartonError(f"invalid {flag} {entry!r}: {path} is not a block device")
    return {"major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev), "rate": rate}


def _host_accounts_swap():
    """Does the kernel limit swap per cgroup here? (docker looks before doubling --memory.)"""
    from ..cgroups import detect

    mounts = detect.read_mounts()
    v1, v2 = detect.hierarchies(mounts)
    if detect.layout(mounts) != "v2":
        memory = [m for m in v1 if "memory" in m.controllers]
        return bool(memory) and os.path.exists(os.path.join(memory[0].point, "memory.memsw.limit_in_bytes"))
    # The root of a cgroup2 tree has no memory.swap.max; a cgroup below it with the memory
    # controller has one whenever the kernel accounts swap.
    try:
        entries = [e.path for e in os.scandir(v2.point) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return False
    return any(os.path.exists(os.path.join(e, "memory.swap.max")) for e in entries)


def _cpu_count():
    return len(os.sched_getaffinity(0))


def _cgroups_path(parent, container_id):
    """``/carton-<id>``, or ``PARENT/carton-<id>`` with ``--cgroup-parent`` (as docker's)."""
    name = f"carton-{container_id}"
    if parent is None:
        return "/" + name
    if not parent.strip("/") or "\0" in parent or ":" in parent:
        raise CartonError(f"invalid --cgroup-parent {parent!r}: expected a cgroup path like "
                          "/my-containers")
    return parent.rstrip("/") + "/" + name


# -- checks -----------------------------------------------------------------------


def _check_rootfs(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CartonError(f"root filesystem {path}: no such directory") from None
    except OSError as e:
        raise CartonError(f"root filesystem {path}: {e.strerror}") from None
    import stat

    if not stat.S_ISDIR(st.st_mode):
        raise CartonError(f"root filesystem {path}: not a directory")
    real = os.path.realpath(path)
    if real == "/":
        raise CartonError("the root filesystem cannot be the host's own /")
    return real


def _check_name(name):
    if len(name) < 2 or name[0] not in _NAME_CHARS - set("_.-") or not set(name) <= _NAME_CHARS:
        raise CartonError(f"invalid container name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-]+ "
                          "is allowed")


def _check_hostname(name):
    """RFC 1123: dot-separated labels of letters, digits and '-', at most 64 bytes in all."""
    if len(name) > 64:
        raise CartonError(f"invalid hostname {name!r}: longer than 64 characters")
    labels = name.split(".")
    for label in labels:
        if (not label or len(label) > 63 or not set(label) <= _HOST_CHARS
                or label[0] == "-" or label[-1] == "-"):
            raise CartonError(f"invalid hostname {name!r}: use letters, digits, '-' and '.' "
                              "(RFC 1123)")


def _is_dir_in_root(root_fd, path):
    try:
        os.close(open_in_root(root_fd, path, os.O_PATH | os.O_DIRECTORY))
        return True
    except OSError:
        return False


def _caller_terminal_size():
    """The caller's window size, so the container's terminal starts with it (not 0x0)."""
    from ..linux import tty

    return tty.get_size(0) or tty.get_size(1)


def _read_host_file(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


# -- environment --------------------------------------------------------------------


def _env_flags(entries):
    """``-e KEY=VALUE`` sets; ``-e KEY`` passes the host's value, or nothing if it is unset."""
    result = []
    for entry in entries:
        key, sep, _ = entry.partition("=")
        if not key or "\0" in entry:
            raise CartonError(f"invalid environment variable {entry!r}: expected KEY=VALUE")
        if sep:
            result.append(entry)
        elif key in os.environ:
            result.append(f"{key}={os.environ[key]}")
    return result


def _env_files(paths):
    result = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise CartonError(f"env file {path}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise CartonError(f"env file {path}: not UTF-8 text") from None
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key = line.partition("=")[0]
            if not key or key != key.strip() or " " in key or "\t" in key:
                raise CartonError(f"env file {path}, line {number}: invalid variable {line!r}")
            result += _env_flags([line])
    return result


def _merge_env(base, overrides):
    """Later entries replace earlier ones with the same key, keeping the first one's place."""
    merged = {}
    for entry in base + overrides:
        merged[entry.partition("=")[0]] = entry
    return list(merged.values())


# -- mounts -----------------------------------------------------------------------


def _volume_mount(spec):
    """``-v HOST:CONTAINER[:OPTIONS]``, a bind mount of an existing absolute host path."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise CartonError(f"invalid volume {spec!r}: expected HOST:CONTAINER[:ro|rw]")
    host, target = parts[0], parts[1]
    if not host.startswith("/"):
        raise CartonError(f"invalid volume {spec!r}: the host path must be absolute "
                          "(named volumes are not supported)")
    if not target.startswith("/"):
        raise CartonError(f"invalid volume {spec!r}: the container path must be absolute")
    if target.rstrip("/") == "":
        raise CartonError(f"invalid volume {spec!r}: cannot mount over the container's /")
    if not os.path.exists(host):
        raise CartonError(f"invalid volume {spec!r}: host path {host} does not exist")
    options = ["rbind"]
    mode = "rw"
    propagation = "rprivate"
    for opt in parts[2].split(",") if len(parts) == 3 else []:
        if opt in ("ro", "rw"):
            mode = opt
        elif opt in mount_options.PROPAGATION:
            propagation = opt
        elif opt in ("z", "Z"):
            raise CartonError(f"invalid volume {spec!r}: SELinux relabeling ({opt}) is not "
                              "available on this host")
        else:
            raise CartonError(f"invalid volume {spec!r}: unknown option {opt!r} (use ro or rw)")
    return Mount(os.path.normpath(target), "bind", os.path.realpath(host),
                 options + [mode, propagation])


def _tmpfs_mount(spec):
    """``--tmpfs PATH[:OPTIONS]``, with docker's defaults noexec,nosuid,nodev."""
    path, _, opts = spec.partition(":")
    if not path.startswith("/") or path.rstrip("/") == "":
        raise CartonError(f"invalid tmpfs {spec!r}: the path must be absolute and not /")
    options = ["nosuid", "nodev", "noexec"]
    for opt in opts.split(",") if opts else []:
        if not opt:
            raise CartonError(f"invalid tmpfs {spec!r}: empty option")
        options.append(opt)
    return Mount(os.path.normpath(path), "tmpfs", "tmpfs", options)


def _check_unique_destinations(mounts):
    seen = set()
    for mnt in mounts:
        if mnt.destination in seen:
            raise CartonError(f"duplicate mount point: {mnt.destination}")
        seen.add(mnt.destination)
