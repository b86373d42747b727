"""The parts of an OCI runtime-spec ``config.json`` Carton understands, as plain classes.

Plain classes with ``__slots__`` rather than dataclasses: ``import
dataclasses`` alone costs ~15 ms, which is most of a container's start-up
budget. Attribute names are the spec's, in snake_case; ``to_dict`` gives
the spec's JSON names back.

Reference: https://github.com/opencontainers/runtime-spec/blob/main/config.md
"""

OCI_VERSION = "1.2.0"


class User:
    """``process.user``: who the container's process runs as."""

    __slots__ = ("uid", "gid", "additional_gids", "umask")

    def __init__(self, uid=0, gid=0, additional_gids=(), umask=None):
        self.uid = uid
        self.gid = gid
        self.additional_gids = list(additional_gids)
        self.umask = umask

    def to_dict(self):
        d = {"uid": self.uid, "gid": self.gid}
        if self.additional_gids:
            d["additionalGids"] = self.additional_gids
        if self.umask is not None:
            d["umask"] = self.umask
        return d


class Rlimit:
    """One of ``process.rlimits``: ``RLIMIT_NOFILE`` and friends, see setrlimit(2)."""

    __slots__ = ("type", "hard", "soft")

    def __init__(self, type, hard, soft):
        self.type = type
        self.hard = hard
        self.soft = soft

    def to_dict(self):
        return {"type": self.type, "hard": self.hard, "soft": self.soft}


class Capabilities:
    """``process.capabilities``: the five capability sets, as lists of names like ``CAP_CHOWN``."""

    SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
    __slots__ = SETS

    def __init__(self, bounding=(), effective=(), permitted=(), inheritable=(), ambient=()):
        self.bounding = list(bounding)
        self.effective = list(effective)
        self.permitted = list(permitted)
        self.inheritable = list(inheritable)
        self.ambient = list(ambient)

    def to_dict(self):
        return {name: getattr(self, name) for name in self.SETS if getattr(self, name)}


class Process:
    """``process``: what to run in the container, and how."""

    __slots__ = ("args", "env", "cwd", "user", "terminal", "console_size", "rlimits",
                 "oom_score_adj", "no_new_privileges", "capabilities", "apparmor_profile",
                 "selinux_label")

    def __init__(self, args, env=(), cwd="/", user=None, terminal=False, console_size=None,
                 rlimits=(), oom_score_adj=None, no_new_privileges=False, capabilities=None,
                 apparmor_profile=None, selinux_label=None):
        self.args = list(args)
        self.env = list(env)
        self.cwd = cwd
        self.user = user or User()
        self.terminal = terminal
        self.console_size = console_size  # (rows, cols) or None
        self.rlimits = list(rlimits)
        self.oom_score_adj = oom_score_adj
        self.no_new_privileges = no_new_privileges
        self.capabilities = capabilities  # Capabilities, or None to leave them as they are
        self.apparmor_profile = apparmor_profile
        self.selinux_label = selinux_label

    def to_dict(self):
        d = {"terminal": self.terminal, "user": self.user.to_dict(), "args": self.args,
             "env": self.env, "cwd": self.cwd}
        if self.console_size:
            d["consoleSize"] = {"height": self.console_size[0], "width": self.console_size[1]}
        if self.capabilities is not None:
            d["capabilities"] = self.capabilities.to_dict()
        if self.rlimits:
            d["rlimits"] = [r.to_dict() for r in self.rlimits]
        if self.oom_score_adj is not None:
            d["oomScoreAdj"] = self.oom_score_adj
        if self.no_new_privileges:
            d["noNewPrivileges"] = True
        if self.apparmor_profile:
            d["apparmorProfile"] = self.apparmor_profile
        if self.selinux_label:
            d["selinuxLabel"] = self.selinux_label
        return d


class Mount:
    """One entry of ``mounts``: a filesystem to mount at ``destination`` inside the container."""

    __slots__ = ("destination", "type", "source", "options")

    def __init__(self, destination, type=None, source=None, options=()):
        self.destination = destination
        self.type = type
        self.source = source
        self.options = list(options)

    def to_dict(self):
        d = {"destination": self.destination}
        if self.type:
            d["type"] = self.type
        if self.source:
            d["source"] = self.source
        if self.options:
            d["options"] = self.options
        return d

    def __repr__(self):
        return f"Mount({self.destination!r}, {self.type!r}, {self.source!r}, {self.options!r})"


class Namespace:
    """One entry of ``linux.namespaces``: a namespace type to make, or to join at ``path``."""

    __slots__ = ("type", "path")

    def __init__(self, type, path=None):
        self.type = type
        self.path = path

    def to_dict(self):
        return {"type": self.type, "path": self.path} if self.path else {"type": self.type}


class IDMapping:
    """One line of a user namespace's uid_map or gid_map: ``containerID hostID size``."""

    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, container_id, host_id, size):
        self.container_id = container_id
        self.host_id = host_id
        self.size = size

    def to_dict(self):
        return {"containerID": self.container_id, "hostID": self.host_id, "size": self.size}


class Device:
    """One of ``linux.devices``: a device node to create in the container's /dev."""

    __slots__ = ("path", "type", "major", "minor", "file_mode", "uid", "gid")

    def __init__(self, path, type, major=0, minor=0, file_mode=None, uid=None, gid=None):
        self.path = path
        self.type = type  # "c", "u", "b" or "p"
        self.major = major
        self.minor = minor
        self.file_mode = file_mode
        self.uid = uid
        self.gid = gid

    def to_dict(self):
        d = {"path": self.path, "type": self.type, "major": self.major, "minor": self.minor}
        for key, value in (("fileMode", self.file_mode), ("uid", self.uid), ("gid", self.gid)):
            if value is not None:
                d[key] = value
        return d


class Linux:
    """``linux``: the Linux-specific part of the config."""

    __slots__ = ("namespaces", "uid_mappings", "gid_mappings", "devices", "masked_paths",
                 "readonly_paths", "rootfs_propagation", "sysctl", "cgroups_path", "resources",
                 "seccomp", "mount_label", "seccomp_program")

    def __init__(self, namespaces=(), masked_paths=(), readonly_paths=(),
                 rootfs_propagation=None, sysctl=None, cgroups_path=None, uid_mappings=(),
                 gid_mappings=(), devices=(), resources=None, seccomp=None, mount_label=None):
        self.namespaces = list(namespaces)
        self.uid_mappings = list(uid_mappings)
        self.gid_mappings = list(gid_mappings)
        self.devices = list(devices)
        self.masked_paths = list(masked_paths)
        self.readonly_paths = list(readonly_paths)
        self.rootfs_propagation = rootfs_propagation
        self.sysctl = dict(sysctl or {})
        self.cgroups_path = cgroups_path
        self.resources = resources  # the OCI ``linux.resources`` dict, applied by cgroups/
        self.seccomp = seccomp      # the OCI ``linux.seccomp`` dict, or None
        self.mount_label = mount_label
        # Not OCI: ``seccomp`` compiled to BPF by the runtime before it forks the init.
        self.seccomp_program = None

    def namespace(self, type):
        """The entry for namespace ``type``, or None when the container shares the host's."""
        for ns in self.namespaces:
            if ns.type == type:
                return ns
        return None

    def to_dict(self):
        d = {"namespaces": [ns.to_dict() for ns in self.namespaces]}
        if self.uid_mappings:
            d["uidMappings"] = [m.to_dict() for m in self.uid_mappings]
        if self.gid_mappings:
            d["gidMappings"] = [m.to_dict() for m in self.gid_mappings]
        if self.devices:
            d["devices"] = [dev.to_dict() for dev in self.devices]
        if self.masked_paths:
            d["maskedPaths"] = self.masked_paths
        if self.readonly_paths:
            d["readonlyPaths"] = self.readonly_paths
        if self.rootfs_propagation:
            d["rootfsPropagation"] = self.rootfs_propagation
        if self.sysctl:
            d["sysctl"] = self.sysctl
        if self.cgroups_path:
            d["cgroupsPath"] = self.cgroups_path
        if self.resources:
            d["resources"] = self.resources
        if self.seccomp:
            d["seccomp"] = self.seccomp
        if self.mount_label:
            d["mountLabel"] = self.mount_label
        return d


class Hook:
    """One hook: a host program run at a point of the life cycle, with the state on stdin."""

    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, path, args=(), env=(), timeout=None):
        self.path = path
        self.args = list(args)
        self.env = list(env)
        self.timeout = timeout  # seconds, or None for no limit

    def to_dict(self):
        d = {"path": self.path}
        if self.args:
            d["args"] = self.args
        if self.env:
            d["env"] = self.env
        if self.timeout is not None:
            d["timeout"] = self.timeout
        return d


# The hook points of the runtime-spec, in the order they run.
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")


class Spec:
    """A whole ``config.json``: process, root filesystem, hostname, mounts, Linux settings."""

    __slots__ = ("oci_version", "process", "root_path", "root_readonly", "hostname",
                 "domainname", "mounts", "linux", "annotations", "hooks", "confine_devices")

    def __init__(self, process, root_path, root_readonly=False, hostname=None, domainname=None,
                 mounts=(), linux=None, annotations=None, oci_version=OCI_VERSION, hooks=None):
        self.oci_version = oci_version
        self.process = process
        self.root_path = root_path
        self.root_readonly = root_readonly
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = list(mounts)
        self.linux = linux or Linux()
        self.annotations = dict(annotations or {})
        self.hooks = dict(hooks or {})  # kind (see HOOK_KINDS) -> [Hook]
        # Not OCI: set by the runtime where no device cgroup can enforce device rules.
        self.confine_devices = False

    def to_dict(self):
        d = {"ociVersion": self.oci_version, "process": self.process.to_dict(),
             "root": {"path": self.root_path, "readonly": self.root_readonly}}
        if self.hostname is not None:
            d["hostname"] = self.hostname
        if self.domainname is not None:
            d["domainname"] = self.domainname
        d["mounts"] = [m.to_dict() for m in self.mounts]
        d["linux"] = self.linux.to_dict()
        hooks = {kind: [h.to_dict() for h in self.hooks[kind]] for kind in HOOK_KINDS
                 if self.hooks.get(kind)}
        if hooks:
            d["hooks"] = hooks
        if self.annotations:
            d["annotations"] = self.annotations
        return d
