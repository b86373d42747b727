"""``carton spec``: the starter ``config.json`` for a new bundle, as ``runc spec`` writes one.

The container it describes runs ``sh`` on a terminal in ``<bundle>/rootfs``
(read-only), as root with only three capabilities, in its own pid, network,
ipc, uts, mount and cgroup namespaces. The mounts, masked paths and
read-only paths are the ones ``carton run`` uses (``defaults``), so both
front doors give the same container.

``rootless=True`` gives the version an unprivileged user can run, as
``runc spec --rootless`` does: a user namespace maps the caller to root, and
everything that needs real root on the host goes.
"""

import os

from . import defaults
from .model import OCI_VERSION

# What is left of root's powers: writing the audit log (login and su want it), signalling,
# and listening on ports below 1024.
CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

HOSTNAME = "carton"


def default_config(rootless=False):
    """The ``config.json`` that ``carton spec`` writes, as a dict ready for ``json.dump``."""
    config = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [f"PATH={defaults.DEFAULT_PATH}", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {name: list(CAPABILITIES)
                             for name in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": HOSTNAME,
        "mounts": _mounts(),
        "linux": {
            # Deny every device to the container's cgroup; the runtime allows back the
            # standard ones (/dev/null, /dev/zero, ...) it creates.
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in defaults.NAMESPACES],
            "maskedPaths": list(defaults.MASKED_PATHS),
            "readonlyPaths": list(defaults.READONLY_PATHS),
        },
    }
    if rootless:
        _make_rootless(config)
    return config


def _mounts():
    mounts = [m.to_dict() for m in defaults.mounts()]
    # The container's own cgroup (with a cgroup namespace, its cgroup is its root), read-only.
    mounts.append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                   "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
    return mounts


def _make_rootless(config):
    """What ``runc spec --rootless`` changes: only what an unprivileged user may do."""
    linux = config["linux"]
    # A user namespace maps the caller to root in the container, and only the caller:
    # an unprivileged user may map nothing else without newuidmap(1).
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    # Without a cgroup delegated to the user there are no limits to set.
    del linux["resources"]

    mounts = []
    for mount in config["mounts"]:
        if mount["destination"] == "/sys/fs/cgroup":
            continue  # comes with the /sys bind below
        if mount["destination"] == "/sys":
            # sysfs can only be mounted by the owner of the network namespace, which we no
            # longer have: bind the host's /sys instead, read-only.
            mount = {"destination": "/sys", "type": "none", "source": "/sys",
                     "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
        else:
            # gid=5 (tty) is not mapped in the user namespace: the mount would fail.
            options = [o for o in mount.get("options", [])
                       if not o.startswith(("uid=", "gid="))]
            mount = dict(mount, options=options)
        mounts.append(mount)
    config["mounts"] = mounts
