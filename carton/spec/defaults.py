"""What a container gets when nothing else is said: docker's defaults, as spec values.

These are the values ``carton run`` starts from, and ``carton spec`` writes
(``spec/template.py``); flags then add to them or override them.
"""

from .model import Mount, Namespace

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Every namespace but the user namespace, which rootless containers add.
NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")


def namespaces():
    return [Namespace(t) for t in NAMESPACES]


def mounts():
    """The kernel filesystems every container gets, with docker's options."""
    return [
        Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount("/dev/pts", "devpts", "devpts",
              ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        Mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        Mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ]


# docker's defaults (moby oci/defaults.go): host kernel interfaces a container
# must not read or poke. Hidden entirely:
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]
# ...and visible, but read-only:
READONLY_PATHS = [
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
]
