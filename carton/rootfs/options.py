"""OCI mount options (``"ro"``, ``"nosuid"``, ``"mode=755"`` ...) to mount(2) flags and data.

Pure logic, no syscalls: options the kernel knows as flags become bits, the
propagation options become a separate list (the kernel wants each in its own
mount(2) call), and the rest (``mode=755``, ``size=64m``) is passed to the
filesystem as its data string, as mount(8) does.
"""

from ..linux import mount as m

# option: (bits to set, bits to clear). The names are mount(8)'s.
FLAGS = {
    "ro": (m.MS_RDONLY, 0), "rw": (0, m.MS_RDONLY),
    "nosuid": (m.MS_NOSUID, 0), "suid": (0, m.MS_NOSUID),
    "nodev": (m.MS_NODEV, 0), "dev": (0, m.MS_NODEV),
    "noexec": (m.MS_NOEXEC, 0), "exec": (0, m.MS_NOEXEC),
    "sync": (m.MS_SYNCHRONOUS, 0), "async": (0, m.MS_SYNCHRONOUS),
    "dirsync": (m.MS_DIRSYNC, 0),
    "remount": (m.MS_REMOUNT, 0),
    "mand": (m.MS_MANDLOCK, 0), "nomand": (0, m.MS_MANDLOCK),
    "atime": (0, m.MS_NOATIME), "noatime": (m.MS_NOATIME, 0),
    "diratime": (0, m.MS_NODIRATIME), "nodiratime": (m.MS_NODIRATIME, 0),
    "relatime": (m.MS_RELATIME, 0), "norelatime": (0, m.MS_RELATIME),
    "strictatime": (m.MS_STRICTATIME, 0), "nostrictatime": (0, m.MS_STRICTATIME),
    "lazytime": (m.MS_LAZYTIME, 0), "nolazytime": (0, m.MS_LAZYTIME),
    "nosymfollow": (m.MS_NOSYMFOLLOW, 0), "symfollow": (0, m.MS_NOSYMFOLLOW),
    "silent": (m.MS_SILENT, 0), "loud": (0, m.MS_SILENT),
    "bind": (m.MS_BIND, 0), "rbind": (m.MS_BIND | m.MS_REC, 0),
}

PROPAGATION = {
    "private": m.MS_PRIVATE, "rprivate": m.MS_PRIVATE | m.MS_REC,
    "shared": m.MS_SHARED, "rshared": m.MS_SHARED | m.MS_REC,
    "slave": m.MS_SLAVE, "rslave": m.MS_SLAVE | m.MS_REC,
    "unbindable": m.MS_UNBINDABLE, "runbindable": m.MS_UNBINDABLE | m.MS_REC,
}


class MountOptions:
    """What a list of OCI mount options asks of mount(2)."""

    __slots__ = ("flags", "propagation", "data")

    def __init__(self, flags, propagation, data):
        self.flags = flags              # MS_* bits for the mount itself
        self.propagation = propagation  # MS_* propagation values, each its own call
        self.data = data                # the filesystem's options, or None

    @property
    def is_bind(self):
        return bool(self.flags & m.MS_BIND)


def parse(options):
    """Split OCI mount options into flags, propagation changes and filesystem data."""
    flags, propagation, data = 0, [], []
    for option in options:
        if option in FLAGS:
            on, off = FLAGS[option]
            flags = (flags | on) & ~off
        elif option in PROPAGATION:
            propagation.append(PROPAGATION[option])
        else:
            data.append(option)
    return MountOptions(flags, propagation, ",".join(data) or None)
