"""The security settings of a ``carton run`` container, as ``docker run`` makes them.

Root in a container must not be root on the host. ``carton run`` gets there
the way docker does, with four layers the runtime applies (each explained
where it is applied, in carton/runtime/init.py and carton/rootfs/):

* capabilities: docker's 14 (``capabilities.DOCKER_DEFAULT``), changed by
  ``--cap-add`` / ``--cap-drop``;
* a seccomp filter: docker's default profile (``seccomp_profile``), or
  ``--security-opt seccomp=unconfined|PROFILE.json``;
* masked and read-only paths in /proc and /sys (``spec.defaults``);
* ``no_new_privs`` with ``--security-opt no-new-privileges``.

``--privileged`` turns them all off, as in docker: every capability, no
filter, no masks, /sys writable, and every host device.

This package only changes a ``Spec`` (pure logic, plus reading a profile
file and listing /dev for ``--privileged``); the runtime core applies what
the spec says, whichever front door made it.
"""

import os

from ..errors import CartonError
from . import capabilities, seccomp_profile

APPARMOR_DIR = "/sys/kernel/security/apparmor"
SELINUX_DIR = "/sys/fs/selinux"

SECURITY_OPTS = ("no-new-privileges", "seccomp", "apparmor", "label", "systempaths")


class SecurityOptions:
    """``--security-opt`` values, parsed (``parse_security_opts``)."""

    __slots__ = ("no_new_privileges", "seccomp", "apparmor", "label", "unmask_paths")

    def __init__(self):
        self.no_new_privileges = None  # None: not given; True/False
        self.seccomp = None            # None (default profile), "unconfined", or a file path
        self.apparmor = None
        self.label = []
        self.unmask_paths = False      # systempaths=unconfined


def parse_security_opts(opts):
    """Parse docker's ``--security-opt`` values; raise CartonError on the first bad one.

    ``no-new-privileges[=true|false]``, ``seccomp=unconfined|builtin|PROFILE.json``,
    ``apparmor=PROFILE``, ``label=...``, ``systempaths=unconfined``. Like docker's
    command line, ``KEY:VALUE`` is accepted too.
    """
    parsed = SecurityOptions()
    for opt in opts:
        if opt == "no-new-privileges":
            parsed.no_new_privileges = True
            continue
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if not sep or not key:
            raise CartonError(f"invalid --security-opt {opt!r}: expected KEY=VALUE, like "
                              "seccomp=unconfined or no-new-privileges=true")
        if key not in SECURITY_OPTS:
            raise CartonError(f"invalid --security-opt {opt!r}: unknown option {key!r} (known: "
                              f"{', '.join(SECURITY_OPTS)})")
        if not value:
            raise CartonError(f"invalid --security-opt {opt!r}: {key} needs a value")
        if key == "no-new-privileges":
            parsed.no_new_privileges = _bool(value, opt)
        elif key == "seccomp":
            parsed.seccomp = None if value == "builtin" else value
        elif key == "apparmor":
            parsed.apparmor = value
        elif key == "label":
            parsed.label.append(value)
        elif key == "systempaths":
            if value != "unconfined":
                raise CartonError(f"invalid --security-opt {opt!r}: systempaths only takes "
                                  "'unconfined'")
            parsed.unmask_paths = True
    return parsed


def apply_run_options(spec, cap_add=(), cap_drop=(), privileged=False, security_opts=()):
    """Give ``spec`` the security settings ``docker run`` would, for these flags.

    Call it once the spec's user, mounts, masked and read-only paths are set
    (it reads ``process.user.uid`` and changes the others). It sets:

    * ``process.capabilities``: ``capabilities.resolve`` then
      ``capabilities.process_capabilities`` (root: bounding = effective =
      permitted; another user: bounding only);
    * ``linux.seccomp``: docker's default profile for those capabilities, the
      ``seccomp=FILE`` profile resolved for them, or ``None``
      (``seccomp=unconfined``, ``--privileged``);
    * ``process.noNewPrivileges`` from ``no-new-privileges``;
    * for ``--privileged`` or ``systempaths=unconfined``: no masked and no
      read-only paths;
    * for ``--privileged`` only: sysfs and cgroup mounts read-write, every
      host device in ``linux.devices`` and an "allow all" device rule in
      ``linux.resources.devices``.

    AppArmor and SELinux options other than "off" are refused: Carton cannot
    apply them. Raises CartonError (one line, docker's wording where it has
    one) before changing anything.
    """
    opts = parse_security_opts(security_opts)
    _check_mac(opts)
    names = capabilities.resolve(cap_add, cap_drop, privileged)
    caps = capabilities.process_capabilities(names, spec.process.user.uid)
    if privileged or opts.seccomp == "unconfined":
        seccomp = None  # docker: --privileged runs without a filter, whatever was asked
    elif opts.seccomp:
        seccomp = seccomp_profile.load_profile_file(opts.seccomp, caps)
    else:
        seccomp = seccomp_profile.profile_for(caps)
    devices = host_devices() if privileged else []

    spec.process.capabilities = caps
    spec.linux.seccomp = seccomp
    if opts.no_new_privileges is not None:
        spec.process.no_new_privileges = opts.no_new_privileges
    if privileged or opts.unmask_paths:
        spec.linux.masked_paths = []
        spec.linux.readonly_paths = []
    if privileged:
        _privileged_mounts(spec)
        taken = {dev.path for dev in spec.linux.devices}
        spec.linux.devices += [dev for dev in devices if dev.path not in taken]
        resources = dict(spec.linux.resources or {})
        resources["devices"] = [{"allow": True, "access": "rwm"}]
        spec.linux.resources = resources
    return spec


def _check_mac(opts):
    """AppArmor and SELinux: "off" is fine (there is nothing to turn off); anything else is not."""
    if opts.apparmor not in (None, "unconfined"):
        if not os.path.exists(APPARMOR_DIR):
            raise CartonError(f"invalid --security-opt apparmor={opts.apparmor}: AppArmor is not "
                              "available on this host")
        raise CartonError(f"invalid --security-opt apparmor={opts.apparmor}: AppArmor profiles are "
                          "not supported by Carton yet")
    for value in opts.label:
        if value == "disable":
            continue
        kind = value.partition(":")[0]
        if kind not in ("user", "role", "type", "level", "filetype", "nested"):
            raise CartonError(f"invalid --security-opt label={value}: expected disable, or "
                              "user:, role:, type:, level: followed by a value")
        if not os.path.exists(SELINUX_DIR):
            raise CartonError(f"invalid --security-opt label={value}: SELinux is not available "
                              "on this host")
        raise CartonError(f"invalid --security-opt label={value}: SELinux labels are not "
                          "supported by Carton yet")


def _privileged_mounts(spec):
    """docker --privileged: /sys and the cgroup filesystem are mounted read-write."""
    for mnt in spec.mounts:
        if mnt.type in ("sysfs", "cgroup", "cgroup2") and "ro" in mnt.options:
            mnt.options = ["rw" if o == "ro" else o for o in mnt.options]


# /dev entries docker (containerd's HostDevices) leaves out of --privileged: the
# container's own devpts, shm and mqueue; the console, which belongs to the runtime.
_SKIP_DIRS = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev")
_SKIP_NODES = ("/dev/console", "/dev/ptmx")


def host_devices(root="/dev"):
    """Every character and block device under the host's /dev, as ``spec.model.Device``.

    ``--privileged`` gives them all to the container, as docker does. Symlinks
    are skipped (the nodes they point to are listed themselves); so are
    /dev/console and /dev/ptmx, which the container has its own of.
    """
    import stat

    from ..spec.model import Device

    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not (top == root and d in _SKIP_DIRS))
        for name in sorted(files):
            path = os.path.join(top, name)
            if path in _SKIP_NODES:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                kind = "c"
            elif stat.S_ISBLK(st.st_mode):
                kind = "b"
            else:
                continue
            found.append(Device(path, kind, os.major(st.st_rdev), os.minor(st.st_rdev),
                                file_mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid))
    return found


def _bool(value, opt):
    # Go's strconv.ParseBool, which docker uses.
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise CartonError(f"invalid --security-opt {opt!r}: expected true or false")
