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


class Process:
    """``process``: what to run in the container, and how."""

    __slots__ = ("args", "env", "cwd", "user", "terminal", "console_size")

    def __init__(self, args, env=(), cwd="/", user=None, terminal=False, console_size=None):
        self.args = list(args)
        self.env = list(env)
        self.cwd = cwd
        self.user = user or User()
        self.terminal = terminal
        self.console_size = console_size  # (rows, cols) or None

    def to_dict(self):
        d = {"terminal": self.terminal, "user": self.user.to_dict(), "args": self.args,
             "env": self.env, "cwd": self.cwd}
        if self.console_size:
            d["consoleSize"] = {"height": self.console_size[0], "width": self.console_size[1]}
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


class Linux:
    """``linux``: the Linux-specific part of the config."""

    __slots__ = ("namespaces", "masked_paths", "readonly_paths", "rootfs_propagation",
                 "sysctl", "cgroups_path")

    def __init__(self, namespaces=(), masked_paths=(), readonly_paths=(),
                 rootfs_propagation=None, sysctl=None, cgroups_path=None):
        self.namespaces = list(namespaces)
        self.masked_paths = list(masked_paths)
        self.readonly_paths = list(readonly_paths)
        self.rootfs_propagation = rootfs_propagation
        self.sysctl = dict(sysctl or {})
        self.cgroups_path = cgroups_path

    def namespace(self, type):
        """The entry for namespace ``type``, or None when the container shares the host's."""
        for ns in self.namespaces:
            if ns.type == type:
                return ns
        return None

    def to_dict(self):
        d = {"namespaces": [ns.to_dict() for ns in self.namespaces]}
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
        return d


class Spec:
    """A whole ``config.json``: process, root filesystem, hostname, mounts, Linux settings."""

    __slots__ = ("oci_version", "process", "root_path", "root_readonly", "hostname",
                 "domainname", "mounts", "linux", "annotations")

    def __init__(self, process, root_path, root_readonly=False, hostname=None, domainname=None,
                 mounts=(), linux=None, annotations=None, oci_version=OCI_VERSION):
        self.oci_version = oci_version
        self.process = process
        self.root_path = root_path
        self.root_readonly = root_readonly
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = list(mounts)
        self.linux = linux or Linux()
        self.annotations = dict(annotations or {})

    def to_dict(self):
        d = {"ociVersion": self.oci_version, "process": self.process.to_dict(),
             "root": {"path": self.root_path, "readonly": self.root_readonly}}
        if self.hostname is not None:
            d["hostname"] = self.hostname
        if self.domainname is not None:
            d["domainname"] = self.domainname
        d["mounts"] = [m.to_dict() for m in self.mounts]
        d["linux"] = self.linux.to_dict()
        if self.annotations:
            d["annotations"] = self.annotations
        return d
