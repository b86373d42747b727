"""Read a bundle's ``config.json`` and check it, field by field, into a ``Spec``.

This runs on every ``carton create``, so it stays small: the standard
library's ``json`` and ``os``, nothing else (no ``re``, no dataclasses).

The checks follow the OCI runtime-spec (config.md, config-linux.md) and, where
the spec leaves a choice to the runtime, runc, because that is what
containerd, podman and docker expect. Every message names the field it is
about, in the spec's own spelling, so a person can find it in the file:

    config.json: process.cwd "tmp" must be an absolute path

Three rules from the spec shape the code:

* fields the spec does not know are ignored (extensions must not break us);
* JSON ``null`` means the same as leaving a field out, as it does for the Go
  clients that write these files;
* a field the spec knows but Carton cannot honour is an error, never silently
  dropped: a container without the limits or isolation it asked for is worse
  than no container.
"""

import os

from .. import jsonc
from ..errors import CartonError
from ..linux.names import CAPABILITY_NUMBERS, RLIMITS
from .model import (
    HOOK_KINDS,
    Capabilities,
    Device,
    Hook,
    IDMapping,
    Linux,
    Mount,
    Namespace,
    Process,
    Rlimit,
    Spec,
    User,
)

# Capability and rlimit names, shared with the kernel layer (a data-only module).
CAPABILITIES = CAPABILITY_NUMBERS

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

# Filesystem types a mount may have. "bind" and "none" only for bind mounts; the
# rest are the kernel filesystems a container needs. Adding one here is all it takes
# for the spec layer to accept it (e.g. "overlay").
MOUNT_TYPES = ("bind", "none", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2")

ROOTFS_PROPAGATION = ("private", "rprivate", "slave", "rslave", "shared", "rshared",
                      "unbindable", "runbindable")

DEVICE_TYPES = ("c", "b", "u", "p")

# Known fields whose meaning Carton does not implement yet. Accepting them silently would
# run the container without what was asked for, so they are errors.
UNSUPPORTED_PROCESS = ("ioPriority", "scheduler", "execCPUAffinity")
UNSUPPORTED_LINUX = ("intelRdt", "timeOffsets", "memoryPolicy", "netDevices")

# sysctls that belong to a namespace, so a container may set them (runc's rule; any other
# sysctl would change the host). IPC ones need an ipc namespace, net.* a network namespace.
IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
               "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")

HOST_NAME_MAX = 64  # sethostname(2) and setdomainname(2) refuse longer names
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

APPARMOR_DIR = "/sys/kernel/security/apparmor"
SELINUX_DIR = "/sys/fs/selinux"


class SpecError(CartonError):
    """A ``config.json`` Carton cannot run. Exit code 1, as runc."""

    def __init__(self, message):
        super().__init__(message, exit_code=1)


def load_bundle(bundle):
    """Read ``<bundle>/config.json`` and return it as a checked ``Spec``."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise SpecError(f"cannot read {path}: no such file") from None
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror.lower()}") from None
    try:
        data = jsonc.loads(raw.decode())
    except UnicodeDecodeError:
        raise SpecError(f"cannot parse {path}: not UTF-8 text") from None
    except ValueError as e:  # json.JSONDecodeError
        raise SpecError(f"cannot parse {path}: {e.msg} at line {e.lineno}, "
                        f"column {e.colno}") from None
    if not isinstance(data, dict):
        raise SpecError(f"cannot parse {path}: expected a JSON object, found {_kind(data)}")
    return from_dict(data, bundle)


def from_dict(data, bundle):
    """Check a parsed ``config.json`` and build the ``Spec``; relative paths are the bundle's."""
    if not isinstance(data, dict):
        raise SpecError(f"config.json: expected a JSON object, found {_kind(data)}")
    bundle = os.path.abspath(bundle)

    version = _str(_required(data, "ociVersion", "ociVersion"), "ociVersion")
    if not version.startswith("1."):
        _fail("ociVersion", f"{_q(version)} is not supported (Carton supports 1.x)")

    root_path, root_readonly = _root(_required(data, "root", "root"), bundle)
    process = _process(_required(data, "process", "process"))
    hostname = _hostname(data.get("hostname"), "hostname")
    domainname = _hostname(data.get("domainname"), "domainname")
    mounts = [_mount(m, f"mounts[{i}]", bundle)
              for i, m in enumerate(_list(data.get("mounts"), "mounts"))]
    linux = _linux(data.get("linux"))
    hooks = _hooks(data.get("hooks"))
    annotations = _str_dict(data.get("annotations"), "annotations")

    # Rules that tie fields together (runc's validator).
    for field, value in (("hostname", hostname), ("domainname", domainname)):
        if value and not linux.namespace("uts"):
            _fail(field, "needs a uts namespace (add {\"type\": \"uts\"} to linux.namespaces)")
    if (linux.masked_paths or linux.readonly_paths) and not linux.namespace("mount"):
        _fail("linux.maskedPaths", "and linux.readonlyPaths need a mount namespace")
    _check_sysctl_namespaces(linux)

    return Spec(process, root_path, root_readonly=root_readonly, hostname=hostname,
                domainname=domainname, mounts=mounts, linux=linux, annotations=annotations,
                oci_version=version, hooks=hooks)


# -- the sections ------------------------------------------------------------------


def _root(value, bundle):
    root = _obj(value, "root")
    path = _str(_required(root, "path", "root.path"), "root.path")
    if not path:
        _fail("root.path", "must not be empty")
    # A relative root is the bundle's, as with runc: "rootfs" means <bundle>/rootfs.
    full = os.path.normpath(os.path.join(bundle, path))
    if not os.path.isdir(full):
        problem = "is not a directory" if os.path.exists(full) else "does not exist"
        _fail("root.path", f"{full} {problem}")
    return full, _bool(root.get("readonly"), "root.readonly", False)


def process_from_dict(value):
    """A ``Process`` from its JSON form: ``exec --process FILE``, and ``process`` in config.json."""
    return _process(value)


def _process(value):
    proc = _obj(value, "process")
    for name in UNSUPPORTED_PROCESS:
        _unsupported(proc, name, f"process.{name}")

    args = _list_of_str(_required(proc, "args", "process.args"), "process.args")
    if not args:
        _fail("process.args", "must not be empty: it is the command to run")
    cwd = _abs_path(_required(proc, "cwd", "process.cwd"), "process.cwd")
    env = _list_of_str(proc.get("env"), "process.env")
    for i, entry in enumerate(env):
        name, sep, _ = entry.partition("=")
        if not sep or not name or "\0" in entry:
            _fail(f"process.env[{i}]", f"{_q(entry)} must be NAME=VALUE")

    console_size = None
    size = proc.get("consoleSize")
    if size is not None:
        size = _obj(size, "process.consoleSize")
        console_size = (_int(size.get("height"), "process.consoleSize.height", 0, 0, 0xFFFF),
                        _int(size.get("width"), "process.consoleSize.width", 0, 0, 0xFFFF))

    oom = proc.get("oomScoreAdj")
    if oom is not None:
        oom = _int(oom, "process.oomScoreAdj", None, -1000, 1000)

    # A security profile that is not applied must not pass for one that is: refuse both,
    # saying whether the host lacks the module or Carton does not apply it yet.
    apparmor = _str(proc.get("apparmorProfile"), "process.apparmorProfile", "")
    if apparmor:
        _fail("process.apparmorProfile", "is set, but AppArmor is not available on this host"
              if not os.path.exists(APPARMOR_DIR) else "is set: Carton cannot apply AppArmor yet")
    selinux = _str(proc.get("selinuxLabel"), "process.selinuxLabel", "")
    if selinux:
        _fail("process.selinuxLabel", "is set, but SELinux is not available on this host"
              if not os.path.exists(SELINUX_DIR) else "is set: Carton cannot apply SELinux yet")

    caps = proc.get("capabilities")
    return Process(args, env, cwd,
                   user=_user(proc.get("user")),
                   terminal=_bool(proc.get("terminal"), "process.terminal", False),
                   console_size=console_size,
                   rlimits=_rlimits(proc.get("rlimits")),
                   oom_score_adj=oom,
                   no_new_privileges=_bool(proc.get("noNewPrivileges"), "process.noNewPrivileges",
                                           False),
                   capabilities=None if caps is None else _capabilities(caps),
                   apparmor_profile=apparmor or None,
                   selinux_label=selinux or None)


def _user(value):
    if value is None:
        return User()
    user = _obj(value, "process.user")
    gids = _list(user.get("additionalGids"), "process.user.additionalGids")
    umask = user.get("umask")
    return User(uid=_int(user.get("uid"), "process.user.uid", 0, 0, UINT32_MAX),
                gid=_int(user.get("gid"), "process.user.gid", 0, 0, UINT32_MAX),
                additional_gids=[_int(g, f"process.user.additionalGids[{i}]", None, 0, UINT32_MAX)
                                 for i, g in enumerate(gids)],
                umask=None if umask is None else _int(umask, "process.user.umask", None, 0, 0o777))


def _rlimits(value):
    rlimits, seen = [], set()
    for i, item in enumerate(_list(value, "process.rlimits")):
        field = f"process.rlimits[{i}]"
        item = _obj(item, field)
        kind = _str(_required(item, "type", f"{field}.type"), f"{field}.type")
        if kind not in RLIMITS:
            _fail(f"{field}.type", f"{_q(kind)} is not a resource limit Linux knows "
                  "(RLIMIT_NOFILE, RLIMIT_NPROC, ... see setrlimit(2))")
        if kind in seen:
            _fail(f"{field}.type", f"{kind} is given more than once")
        seen.add(kind)
        hard = _int(_required(item, "hard", f"{field}.hard"), f"{field}.hard", None, 0, UINT64_MAX)
        soft = _int(_required(item, "soft", f"{field}.soft"), f"{field}.soft", None, 0, UINT64_MAX)
        if soft > hard:
            _fail(f"{field}.soft", f"{soft} is above the hard limit {hard}")
        rlimits.append(Rlimit(kind, hard, soft))
    return rlimits


def _capabilities(value):
    caps = _obj(value, "process.capabilities")
    sets = {}
    for name in Capabilities.SETS:
        field = f"process.capabilities.{name}"
        names = _list_of_str(caps.get(name), field)
        unknown = [n for n in names if n not in CAPABILITIES]
        if unknown:
            _fail(field, f"has unknown capabilities: {', '.join(unknown)}")
        sets[name] = names
    return Capabilities(**sets)


def _hostname(value, field):
    name = _str(value, field, "")
    if len(name.encode()) > HOST_NAME_MAX:
        _fail(field, f"{_q(name)} is longer than {HOST_NAME_MAX} bytes")
    return name or None  # "" is "not set", as for runc


def _mount(value, field, bundle):
    mount = _obj(value, field)
    destination = _abs_path(_required(mount, "destination", f"{field}.destination"),
                            f"{field}.destination")
    kind = _str(mount.get("type"), f"{field}.type", "")
    source = _str(mount.get("source"), f"{field}.source", "")
    options = _list_of_str(mount.get("options"), f"{field}.options")
    for name in ("uidMappings", "gidMappings"):
        if mount.get(name):
            _fail(f"{field}.{name}", "asks for an idmapped mount: idmapped mounts are not "
                  "supported")
    for option in ("idmap", "ridmap"):
        if option in options:
            _fail(f"{field}.options", f"has {_q(option)}: idmapped mounts are not supported")

    # As with runc, the options decide what a bind mount is, and then the type means nothing.
    is_bind = "bind" in options or "rbind" in options
    if kind == "bind" and not is_bind:
        options.append("bind")
        is_bind = True
    if is_bind:
        if not source:
            _fail(f"{field}.source", "is required for a bind mount")
        # A relative source is the bundle's (runc does the same).
        return Mount(destination, "bind", os.path.normpath(os.path.join(bundle, source)), options)
    if not kind or kind == "none":
        _fail(f"{field}.type", "is required unless the mount is a bind mount "
              "(options \"bind\" or \"rbind\")")
    if kind not in MOUNT_TYPES:
        _fail(f"{field}.type", f"{_q(kind)} is not supported (Carton mounts "
              f"{', '.join(t for t in MOUNT_TYPES if t not in ('bind', 'none'))} and bind mounts)")
    return Mount(destination, kind, source or None, options)


def _linux(value):
    if value is None:
        return Linux()
    linux = _obj(value, "linux")
    for name in UNSUPPORTED_LINUX:
        _unsupported(linux, name, f"linux.{name}")
    _personality(linux.get("personality"))

    namespaces = _namespaces(linux.get("namespaces"))
    uid_mappings = _id_mappings(linux.get("uidMappings"), "linux.uidMappings")
    gid_mappings = _id_mappings(linux.get("gidMappings"), "linux.gidMappings")
    userns = next((ns for ns in namespaces if ns.type == "user"), None)
    if (uid_mappings or gid_mappings) and userns is None:
        _fail("linux.uidMappings", "and linux.gidMappings need a user namespace "
              "(add {\"type\": \"user\"} to linux.namespaces)")
    if userns is not None and userns.path is None:
        for field, mappings in (("linux.uidMappings", uid_mappings),
                                ("linux.gidMappings", gid_mappings)):
            if not mappings:
                _fail(field, "must not be empty: a new user namespace needs its id mappings")

    propagation = _str(linux.get("rootfsPropagation"), "linux.rootfsPropagation", "")
    if propagation and propagation not in ROOTFS_PROPAGATION:
        _fail("linux.rootfsPropagation", f"{_q(propagation)} must be one of "
              f"{', '.join(ROOTFS_PROPAGATION)}")
    mount_label = _str(linux.get("mountLabel"), "linux.mountLabel", "")
    if mount_label:
        _fail("linux.mountLabel", "is set, but SELinux is not available on this host"
              if not os.path.exists(SELINUX_DIR) else "is set: Carton cannot apply SELinux yet")
    resources = linux.get("resources")
    if resources is not None:
        resources = _obj(resources, "linux.resources")
    seccomp = linux.get("seccomp")
    if seccomp is not None:
        seccomp = _seccomp(_obj(seccomp, "linux.seccomp"))

    return Linux(namespaces=namespaces,
                 masked_paths=_abs_paths(linux.get("maskedPaths"), "linux.maskedPaths"),
                 readonly_paths=_abs_paths(linux.get("readonlyPaths"), "linux.readonlyPaths"),
                 rootfs_propagation=propagation or None,
                 sysctl=_str_dict(linux.get("sysctl"), "linux.sysctl"),
                 cgroups_path=_str(linux.get("cgroupsPath"), "linux.cgroupsPath", "") or None,
                 uid_mappings=uid_mappings, gid_mappings=gid_mappings,
                 devices=_devices(linux.get("devices")),
                 resources=resources, seccomp=seccomp,
                 mount_label=mount_label or None)


def _namespaces(value):
    namespaces, seen = [], set()
    for i, item in enumerate(_list(value, "linux.namespaces")):
        field = f"linux.namespaces[{i}]"
        item = _obj(item, field)
        kind = _str(_required(item, "type", f"{field}.type"), f"{field}.type")
        if kind not in NAMESPACE_TYPES:
            _fail(f"{field}.type", f"{_q(kind)} is not a namespace type "
                  f"({', '.join(NAMESPACE_TYPES)})")
        if kind == "time":
            _fail(f"{field}.type", '"time": time namespaces are not supported by Carton yet')
        if kind in seen:
            _fail(f"{field}.type", f"{_q(kind)} is given more than once")
        seen.add(kind)
        path = _str(item.get("path"), f"{field}.path", "")
        if path:
            _abs_path(path, f"{field}.path")
            if not os.path.exists(path):
                _fail(f"{field}.path", f"{path} does not exist")
        namespaces.append(Namespace(kind, path or None))
    return namespaces


def _id_mappings(value, field):
    mappings = []
    for i, item in enumerate(_list(value, field)):
        here = f"{field}[{i}]"
        item = _obj(item, here)
        mappings.append(IDMapping(
            _int(_required(item, "containerID", f"{here}.containerID"), f"{here}.containerID",
                 None, 0, UINT32_MAX),
            _int(_required(item, "hostID", f"{here}.hostID"), f"{here}.hostID", None, 0, UINT32_MAX),
            _int(_required(item, "size", f"{here}.size"), f"{here}.size", None, 1, UINT32_MAX)))
    return mappings


def _devices(value):
    devices = []
    for i, item in enumerate(_list(value, "linux.devices")):
        field = f"linux.devices[{i}]"
        item = _obj(item, field)
        path = _abs_path(_required(item, "path", f"{field}.path"), f"{field}.path")
        kind = _str(_required(item, "type", f"{field}.type"), f"{field}.type")
        if kind not in DEVICE_TYPES:
            _fail(f"{field}.type", f"{_q(kind)} must be c (character), b (block), u (unbuffered "
                  "character) or p (FIFO)")
        if kind == "p":
            major = _int(item.get("major"), f"{field}.major", 0, 0)
            minor = _int(item.get("minor"), f"{field}.minor", 0, 0)
        else:
            major = _int(_required(item, "major", f"{field}.major"), f"{field}.major", None, 0)
            minor = _int(_required(item, "minor", f"{field}.minor"), f"{field}.minor", None, 0)
        mode = item.get("fileMode")
        if mode is not None:
            # Some clients send Go's os.FileMode with its type bits; the permissions are what counts.
            mode = _int(mode, f"{field}.fileMode", None, 0, UINT32_MAX) & 0o7777
        uid, gid = item.get("uid"), item.get("gid")
        devices.append(Device(
            path, kind, major, minor, mode,
            None if uid is None else _int(uid, f"{field}.uid", None, 0, UINT32_MAX),
            None if gid is None else _int(gid, f"{field}.gid", None, 0, UINT32_MAX)))
    return devices


def _personality(value):
    """Only the default personality, which is asking for nothing."""
    if not value:
        return
    personality = _obj(value, "linux.personality")
    domain = personality.get("domain")
    if domain != "LINUX" or personality.get("flags"):
        _fail("linux.personality", "is not supported by Carton yet (only {\"domain\": \"LINUX\"})")


def _check_sysctl_namespaces(linux):
    """A sysctl outside a namespace of the container's own would change the host (runc's rule)."""
    for key in linux.sysctl:
        name = key.replace("/", ".")
        field = f"linux.sysctl[{_q(key)}]"
        if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if not linux.namespace("ipc"):
                _fail(field, "needs an ipc namespace: without one it would change the host")
        elif name.startswith("net."):
            if not linux.namespace("network"):
                _fail(field, "needs a network namespace: without one it would change the host")
        elif name == "kernel.hostname" and linux.namespace("uts"):
            _fail(field, "conflicts with the hostname field; set hostname instead")
        elif not (name == "kernel.domainname" and linux.namespace("uts")):
            _fail(field, "is not in a namespace of the container's own: it would change the host")


def _hooks(value):
    if value is None:
        return {}
    hooks = _obj(value, "hooks")
    result = {}
    for kind in HOOK_KINDS:
        entries = []
        for i, item in enumerate(_list(hooks.get(kind), f"hooks.{kind}")):
            field = f"hooks.{kind}[{i}]"
            item = _obj(item, field)
            timeout = item.get("timeout")
            entries.append(Hook(
                _abs_path(_required(item, "path", f"{field}.path"), f"{field}.path"),
                _list_of_str(item.get("args"), f"{field}.args"),
                _list_of_str(item.get("env"), f"{field}.env"),
                None if timeout is None else _int(timeout, f"{field}.timeout", None, 1)))
        if entries:
            result[kind] = entries
    return result


# -- small checks, each naming its field ---------------------------------------------


SECCOMP_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
                   "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW")
SECCOMP_OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                     "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
SECCOMP_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")


def _seccomp(sec):
    """Check a ``linux.seccomp`` object's names now, so a bad profile fails ``create``, not ``start``.

    It stays a dict: libseccomp, not the spec layer, turns it into a filter.
    """
    def action(value, field):
        if value == "SCMP_ACT_NOTIFY":
            _fail(field, "SCMP_ACT_NOTIFY (a seccomp listener) is not supported by Carton yet")
        if value not in SECCOMP_ACTIONS:
            _fail(field, f"{_q(str(value))} is not a seccomp action")

    def optional_int(value, field, **limits):
        if value is not None:
            _int(value, field, **limits)

    action(sec.get("defaultAction"), "linux.seccomp.defaultAction")
    optional_int(sec.get("defaultErrnoRet"), "linux.seccomp.defaultErrnoRet", low=0)
    _list_of_str(sec.get("architectures"), "linux.seccomp.architectures")
    for i, flag in enumerate(_list_of_str(sec.get("flags"), "linux.seccomp.flags")):
        if flag not in SECCOMP_FLAGS:
            _fail(f"linux.seccomp.flags[{i}]", f"{_q(flag)} is not a seccomp flag")
    _unsupported(sec, "listenerPath", "linux.seccomp.listenerPath")
    for i, rule in enumerate(_list(sec.get("syscalls"), "linux.seccomp.syscalls")):
        field = f"linux.seccomp.syscalls[{i}]"
        rule = _obj(rule, field)
        if not _list_of_str(rule.get("names"), f"{field}.names"):
            _fail(f"{field}.names", "must name at least one syscall")
        action(rule.get("action"), f"{field}.action")
        optional_int(rule.get("errnoRet"), f"{field}.errnoRet", low=0)
        for j, arg in enumerate(_list(rule.get("args"), f"{field}.args")):
            afield = f"{field}.args[{j}]"
            arg = _obj(arg, afield)
            _int(_required(arg, "index", afield), f"{afield}.index", low=0, high=5)
            optional_int(arg.get("value"), f"{afield}.value", low=0)
            optional_int(arg.get("valueTwo"), f"{afield}.valueTwo", low=0)
            if arg.get("op") not in SECCOMP_OPERATORS:
                _fail(f"{afield}.op", f"{_q(str(arg.get('op')))} is not a seccomp operator")
    return sec


def _fail(field, problem):
    raise SpecError(f"config.json: {field} {problem}")


def _q(text):
    """A string as JSON writes it, so messages quote values the way the file does."""
    return jsonc.quote(text)


def _kind(value):
    """What a JSON value is, in JSON's words, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _required(obj, key, field):
    value = obj.get(key)
    if value is None:
        _fail(field, "is required")
    return value


def _unsupported(obj, key, field):
    if obj.get(key) not in (None, {}, []):
        _fail(field, "is not supported by Carton yet")


def _obj(value, field):
    if not isinstance(value, dict):
        _fail(field, f"must be an object, not {_kind(value)}")
    return value


def _list(value, field):
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(field, f"must be a list, not {_kind(value)}")
    return value


def _str(value, field, default=None):
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        _fail(field, f"must be a string, not {_kind(value)}")
    return value


def _bool(value, field, default=None):
    if value is None and default is not None:
        return default
    if not isinstance(value, bool):
        _fail(field, f"must be true or false, not {_kind(value)}")
    return value


def _int(value, field, default=None, low=None, high=None):
    """A JSON integer in [low, high]. JSON has no integer type: 1.0 and true are refused."""
    if value is None and default is not None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(field, f"must be an integer, not {_kind(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            _fail(field, f"{value} must be at least {low}")
        _fail(field, f"{value} must be between {low} and {high}")
    return value


def _list_of_str(value, field):
    items = _list(value, field)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            _fail(f"{field}[{i}]", f"must be a string, not {_kind(item)}")
    return list(items)


def _abs_path(value, field):
    path = _str(value, field)
    if not path.startswith("/"):
        _fail(field, f"{_q(path)} must be an absolute path")
    return path


def _abs_paths(value, field):
    return [_abs_path(p, f"{field}[{i}]") for i, p in enumerate(_list(value, field))]


def _str_dict(value, field):
    if value is None:
        return {}
    obj = _obj(value, field)
    for key, item in obj.items():
        if not isinstance(item, str):
            _fail(f"{field}[{_q(key)}]", f"must be a string, not {_kind(item)}")
    return dict(obj)
