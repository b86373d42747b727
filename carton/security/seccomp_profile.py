"""The seccomp profile of a ``carton run`` container: docker's default, in readable tables.

A seccomp filter decides, at every system call, whether the kernel runs it.
Docker's default profile is an *allow-list*: about 370 syscalls that
ordinary programs use are allowed, everything else fails with EPERM. What it
keeps out are the calls that reach parts of the kernel no namespace
isolates: the clock, the keyring, kernel modules, reboot, swap, kexec,
mounting, new namespaces, BPF, perf... (docs.docker.com, "Seccomp security
profiles for Docker", has the list of what is blocked and why).

Most of the blocked calls also need a capability the container lacks; the
filter is the second wall, and it shrinks the kernel code a container can
reach at all (a bug in a syscall it cannot make cannot hurt the host). So,
like docker, a container that is *given* a capability is also given the
syscalls that go with it: ``--cap-add SYS_TIME`` allows clock_settime.

The tables below are Carton's own, grouped by why each syscall is safe; the
effect is that of docker's default profile (moby/profiles, seccomp/
default_linux.go). They are written in docker's profile format (rules with
``includes``/``excludes`` on capabilities, architectures and kernel
version), because that is also what ``--security-opt seccomp=FILE`` may be
given: one function, ``resolve``, turns either into the OCI
``linux.seccomp`` the runtime loads (carton/linux/seccomp.py).

    default_profile()               docker's default, for docker's default capabilities
    profile_for(capabilities)       the same, adjusted for a capability set
    load_profile_file(path, caps)   a file in docker's format (or OCI's), resolved
    docker_profile()                the profile itself, in docker's JSON format
"""

import os

from ..errors import CartonError

EPERM = 1
ENOSYS = 38

# -- what every container may do ----------------------------------------------------
#
# Each group: (why it is safe to allow, names). A syscall listed here still meets
# the kernel's own checks (file permissions, capabilities, namespaces, cgroups):
# the filter only decides whether the kernel code is reachable at all. Names the
# machine's libseccomp does not know (newer syscalls, other architectures) are
# skipped when the filter is loaded.

ALLOWED = [
    ("files and directories: the kernel checks permissions, and the mount namespace "
     "decides which files exist at all",
     ["access", "chdir", "chmod", "chown", "chown32", "copy_file_range", "creat", "faccessat",
      "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fchdir", "fchmod", "fchmodat",
      "fchmodat2", "fchown", "fchown32", "fchownat", "fdatasync", "flock", "fstat", "fstat64",
      "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat",
      "getcwd", "getdents", "getdents64", "lchown", "lchown32", "link", "linkat", "lstat",
      "lstat64", "mkdir", "mkdirat", "name_to_handle_at", "newfstatat", "open", "openat",
      "openat2", "readahead", "readlink", "readlinkat", "rename", "renameat", "renameat2",
      "rmdir", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
      "sync_file_range", "syncfs", "truncate", "truncate64", "umask", "unlink", "unlinkat",
      "utime", "utimensat", "utimensat_time64", "utimes"]),
    ("device nodes: making one needs CAP_MKNOD, and the devices cgroup decides which may "
     "be opened",
     ["mknod", "mknodat"]),
    ("extended attributes: file metadata, checked like the file itself",
     ["fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat",
      "lgetxattr", "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lsetxattr",
      "removexattr", "removexattrat", "setxattr", "setxattrat"]),
    ("reading and writing open file descriptors",
     ["_llseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "fcntl64", "ioctl",
      "lseek", "pipe", "pipe2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev",
      "pwritev2", "read", "readv", "sendfile", "sendfile64", "splice", "tee", "vmsplice",
      "write", "writev"]),
    ("waiting for events: poll, epoll, inotify, eventfd, signalfd, timerfd",
     ["_newselect", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
      "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
      "fanotify_mark", "inotify_add_watch", "inotify_init", "inotify_init1",
      "inotify_rm_watch", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64",
      "select", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime",
      "timerfd_gettime64", "timerfd_settime", "timerfd_settime64"]),
    ("asynchronous I/O, the old Linux AIO (io_uring is not here: see BLOCKED)",
     ["io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
      "io_setup", "io_submit", "ioprio_get", "ioprio_set"]),
    ("memory of the process itself",
     ["brk", "cachestat", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
      "memfd_secret", "mincore", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
      "mremap", "mseal", "msync", "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free",
      "pkey_mprotect", "process_mrelease", "remap_file_pages"]),
    ("processes and threads: the PID namespace limits which processes exist for them "
     "(clone and clone3 have rules of their own below)",
     ["execve", "execveat", "exit", "exit_group", "fork", "futex", "futex_requeue",
      "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "get_robust_list",
      "get_thread_area", "getcpu", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
      "getrlimit", "getrusage", "getsid", "gettid", "pidfd_open", "pidfd_send_signal", "prctl",
      "prlimit64", "restart_syscall", "rseq", "set_robust_list", "set_thread_area",
      "set_tid_address", "setpgid", "setpriority", "setrlimit", "setsid", "ugetrlimit",
      "uretprobe", "vfork", "wait4", "waitid", "waitpid"]),
    ("signals and timers",
     ["alarm", "getitimer", "kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
      "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
      "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "setitimer", "sigaltstack", "sigprocmask",
      "sigreturn", "tgkill", "timer_create", "timer_delete", "timer_getoverrun",
      "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "tkill"]),
    ("reading the clock and sleeping; adjtimex and clock_adjtime only read it unless the "
     "caller has CAP_SYS_TIME, which the kernel checks (setting it: see BY_CAPABILITY)",
     ["adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
      "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
      "gettimeofday", "nanosleep", "time", "times"]),
    ("scheduling: raising a priority needs CAP_SYS_NICE, and the cpuset cgroup bounds "
     "the CPUs",
     ["sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity",
      "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
      "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
      "sched_setscheduler", "sched_yield"]),
    ("user and group IDs: changing them needs CAP_SETUID/CAP_SETGID",
     ["getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
      "getgroups32", "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid",
      "getuid32", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
      "setgroups", "setgroups32", "setregid", "setregid32", "setresgid", "setresgid32",
      "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32"]),
    ("sockets, once made: the network namespace is the container's own (socket(2) itself "
     "has a rule of its own below; socketcall is the 32-bit x86 entry to all of them, and "
     "its arguments are behind a pointer no filter can read)",
     ["accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
      "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send",
      "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socketcall", "socketpair"]),
    ("System V and POSIX IPC: the IPC namespace is the container's own",
     ["ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
      "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl",
      "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop",
      "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget"]),
    ("sandboxing oneself further only ever takes privileges away: seccomp filters, "
     "Landlock, dropping capabilities",
     ["capget", "capset", "landlock_add_rule", "landlock_create_ruleset",
      "landlock_restrict_self", "seccomp"]),
    ("information about the system that namespaces already scope",
     ["getrandom", "listmount", "statmount", "sysinfo", "uname"]),
]

# Allowed from a kernel version on, docker's ``minKernel``: before 4.8 a tracer could
# change a traced process's syscall after the filter had passed it, so ptrace was a
# way around seccomp itself. From 4.8 the kernel checks the filter again.
ALLOWED_FROM_KERNEL = [
    ((4, 8), "reading and tracing one's own processes (the PID namespace hides the "
     "others; a process with more capabilities than the tracer still needs CAP_SYS_PTRACE)",
     ["process_vm_readv", "process_vm_writev", "ptrace"]),
]

# Architecture-specific calls, by libseccomp's names for the architectures.
ALLOWED_ON_ARCH = [
    (("amd64", "x32"), "thread-local storage setup on x86-64", ["arch_prctl"]),
    (("amd64", "x32", "x86"), "per-process segment table, used by Wine and old "
     "threading libraries", ["modify_ldt"]),
    (("arm", "arm64"), "ARM's own variants of common calls",
     ["arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls",
      "sync_file_range2"]),
    (("ppc64le",), "PowerPC's own variants of common calls", ["swapcontext", "sync_file_range2"]),
    (("s390", "s390x"), "s390's own calls for PCI I/O and runtime instrumentation",
     ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"]),
    (("riscv64",), "RISC-V's instruction cache flush and hardware probing",
     ["riscv_flush_icache", "riscv_hwprobe"]),
]

# -- allowed with conditions on the arguments -----------------------------------------

# personality(2): the execution domains programs really use. The others switch off
# address-space randomisation (ADDR_NO_RANDOMIZE) or make all memory executable
# (READ_IMPLIES_EXEC), which helps exploits more than programs.
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008          # `linux32`: report a 32-bit machine
UNAME26 = 0x0020000           # report a 2.6 kernel to old software
PER_QUERY = 0xFFFFFFFF        # only ask for the current personality
PERSONALITIES = (PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, PER_QUERY)

# socket(2): every address family but a few. AF_ALG (38) opens the kernel's crypto API
# to the container, much attack surface for no common use; AF_VSOCK (40) talks to the
# hypervisor and to virtual machines, and is not isolated by network namespaces. A
# family past the last one the kernel knows is refused too.
AF_ALG = 38
AF_VSOCK = 40
SOCKET_FAMILIES_AFTER_ALG = (39, 41, 42, 43, 44, 45)  # NFC, KCM, QIPCRTR, SMC, XDP, MCTP

# clone(2) flags that make new namespaces: creating namespaces is CAP_SYS_ADMIN's (a
# new user namespace, in particular, opens kernel code to unprivileged users).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NAMESPACES = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                    | CLONE_NEWPID | CLONE_NEWNET)

# -- allowed only with a capability ------------------------------------------------------
#
# The kernel asks for these capabilities anyway; without them the calls are blocked
# outright, and with them (--cap-add, --privileged) they are allowed, as in docker.

BY_CAPABILITY = [
    ("CAP_SYS_ADMIN", "mounting, namespaces, the hostname, BPF, perf, quotas: the kernel's "
     "catch-all administrator capability",
     ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
      "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
      "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
      "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"]),
    ("CAP_DAC_READ_SEARCH", "opening a file by its handle skips the path, and so the mount "
     "namespace: the 'shocker' escape read host files this way (2014)",
     ["open_by_handle_at"]),
    ("CAP_SYS_BOOT", "reboot the machine, or load a kernel to reboot into", ["reboot"]),
    ("CAP_SYS_CHROOT", "change the root directory", ["chroot"]),
    ("CAP_SYS_MODULE", "load and unload kernel modules: code in the host's kernel",
     ["delete_module", "finit_module", "init_module"]),
    ("CAP_SYS_PACCT", "process accounting is one switch for the whole host", ["acct"]),
    ("CAP_SYS_PTRACE", "inspect or trace any process, compare kernel objects across "
     "processes, take their file descriptors",
     ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
      "ptrace"]),
    ("CAP_SYS_RAWIO", "raw access to I/O ports", ["ioperm", "iopl"]),
    ("CAP_SYS_TIME", "the clock is not namespaced: setting it sets the host's",
     ["clock_settime", "clock_settime64", "settimeofday", "stime"]),
    ("CAP_SYS_TTY_CONFIG", "hang up the terminal", ["vhangup"]),
    ("CAP_SYS_NICE", "NUMA memory policy of the machine's memory nodes",
     ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", "read and clear the kernel's log", ["syslog"]),
    ("CAP_BPF", "load BPF programs into the kernel", ["bpf"]),
    ("CAP_PERFMON", "performance monitoring, which sees the whole machine",
     ["perf_event_open"]),
]

# -- never allowed ------------------------------------------------------------------------
#
# Not a rule: these are simply absent from the lists above, so the default action
# refuses them. Kept as a table so the reasons are written down and tested.

BLOCKED = {
    "add_key": "the kernel keyring is not namespaced: keys of the host and of other "
               "containers live there",
    "keyctl": "the kernel keyring is not namespaced",
    "request_key": "the kernel keyring is not namespaced",
    "kexec_load": "loads a new kernel to boot into",
    "kexec_file_load": "loads a new kernel to boot into",
    "io_uring_setup": "io_uring has been the source of many kernel exploits, and "
                      "bypasses the filter for the I/O it performs",
    "io_uring_enter": "see io_uring_setup",
    "io_uring_register": "see io_uring_setup",
    "userfaultfd": "lets a process stall the kernel on a page fault, a building block "
                   "of many kernel exploits",
    "swapon": "swap is the host's", "swapoff": "swap is the host's",
    "pivot_root": "the runtime's business, not the container's",
    "move_pages": "moves memory between the machine's NUMA nodes",
    "migrate_pages": "moves memory between the machine's NUMA nodes",
    "nfsservctl": "the kernel NFS server (gone since Linux 3.1)",
    "_sysctl": "the obsolete binary sysctl interface (/proc/sys is read-only anyway)",
    "uselib": "obsolete way to load shared libraries", "ustat": "obsolete",
    "sysfs": "obsolete", "vm86": "x86 virtual 8086 mode", "vm86old": "x86 virtual 8086 mode",
    "create_module": "kernel modules, before 2.6", "get_kernel_syms": "kernel modules, "
    "before 2.6", "query_module": "kernel modules, before 2.6",
    "afs_syscall": "never implemented", "tuxcall": "never implemented",
    "getpmsg": "never implemented", "putpmsg": "never implemented",
    "security": "never implemented", "vserver": "never implemented",
}

# The architectures a profile is made for: (libseccomp's name, OCI's name), and
# the others a process on it may use (x86-64 runs 32-bit x86 and x32 programs too).
ARCH_MAP = [
    ("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", ["SCMP_ARCH_ARM"]),
    ("SCMP_ARCH_MIPS64", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]),
    ("SCMP_ARCH_MIPS64N32", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]),
    ("SCMP_ARCH_MIPSEL64", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]),
    ("SCMP_ARCH_MIPSEL64N32", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]),
    ("SCMP_ARCH_S390X", ["SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", []),
    ("SCMP_ARCH_LOONGARCH64", []),
]

# uname -m -> (docker's/libseccomp's short name used in ``arches``, OCI's name).
MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"), "i386": ("x86", "SCMP_ARCH_X86"),
    "i486": ("x86", "SCMP_ARCH_X86"), "i586": ("x86", "SCMP_ARCH_X86"),
    "i686": ("x86", "SCMP_ARCH_X86"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv6l": ("arm", "SCMP_ARCH_ARM"), "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "armv8l": ("arm", "SCMP_ARCH_ARM"), "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "ppc64": ("ppc64", "SCMP_ARCH_PPC64"), "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"), "loongarch64": ("loong64", "SCMP_ARCH_LOONGARCH64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
}

# What OCI (and so Carton's loader) accepts; SCMP_ACT_NOTIFY needs a listener, which
# Carton does not have yet.
ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
             "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
         "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
          "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
          "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
          "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
          "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
          "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB")


# -- the profile, in docker's format ----------------------------------------------------


def _rule(names, action="SCMP_ACT_ALLOW", comment=None, args=None, errno=None, includes=None,
          excludes=None):
    rule = {"names": list(names), "action": action}
    if errno is not None:
        rule["errnoRet"] = errno
    if args:
        rule["args"] = args
    if comment:
        rule["comment"] = comment
    if includes:
        rule["includes"] = includes
    if excludes:
        rule["excludes"] = excludes
    return rule


def _arg(index, value, op="SCMP_CMP_EQ", value_two=0):
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


def docker_profile():
    """Docker's default profile, built from the tables above, in docker's JSON format.

    Conditional rules are still conditional here (``includes``/``excludes``);
    ``resolve`` (or docker itself: the JSON is one docker accepts) turns it into
    the filter for one container.
    """
    rules = [_rule(names, comment=why) for why, names in ALLOWED]
    for (major, minor), why, names in ALLOWED_FROM_KERNEL:
        rules.append(_rule(names, comment=why, includes={"minKernel": f"{major}.{minor}"}))
    rules += [_rule(["personality"], args=[_arg(0, value)], comment=comment) for value, comment in
              zip(PERSONALITIES, ("plain Linux", "linux32", "UNAME26", "UNAME26|linux32",
                                  "query"), strict=True)]
    rules.append(_rule(["socket"], args=[_arg(0, AF_ALG, "SCMP_CMP_LT")],
                       comment="every address family below AF_ALG"))
    rules += [_rule(["socket"], args=[_arg(0, family)]) for family in SOCKET_FAMILIES_AFTER_ALG]
    for arches, why, names in ALLOWED_ON_ARCH:
        rules.append(_rule(names, comment=why, includes={"arches": list(arches)}))
    rules.append(_rule(["clone"], args=[_arg(0, CLONE_NAMESPACES, "SCMP_CMP_MASKED_EQ", 0)],
                       comment="new processes and threads, but no new namespaces",
                       excludes={"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}))
    rules.append(_rule(["clone"], args=[_arg(1, CLONE_NAMESPACES, "SCMP_CMP_MASKED_EQ", 0)],
                       comment="the same on s390, whose clone takes its flags second",
                       includes={"arches": ["s390", "s390x"]}, excludes={"caps": ["CAP_SYS_ADMIN"]}))
    rules.append(_rule(["clone3"], "SCMP_ACT_ERRNO", errno=ENOSYS,
                       comment="clone3 passes its flags in memory no filter can read: "
                               "ENOSYS makes the C library fall back to clone, checked above",
                       excludes={"caps": ["CAP_SYS_ADMIN"]}))
    for cap, why, names in BY_CAPABILITY:
        rules.append(_rule(names, comment=why, includes={"caps": [cap]}))
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "archMap": [{"architecture": arch, "subArchitectures": list(sub)} for arch, sub in ARCH_MAP],
        "syscalls": rules,
    }


def default_profile(machine=None, kernel=None):
    """The OCI ``linux.seccomp`` of a default ``carton run`` container (docker's defaults)."""
    from .capabilities import DOCKER_DEFAULT

    return profile_for(DOCKER_DEFAULT, machine, kernel)


def profile_for(capabilities, machine=None, kernel=None):
    """Docker's default profile resolved for a container with ``capabilities``.

    ``capabilities``: the names of the bounding set (docker looks at the
    bounding set), or a ``spec.model.Capabilities``. ``machine`` (``uname
    -m``) and ``kernel`` (``(major, minor)``) default to this host's.
    """
    return resolve(docker_profile(), capabilities, machine, kernel)


def load_profile_file(path, capabilities, machine=None, kernel=None):
    """Read a profile file (docker's format, or OCI's ``linux.seccomp``) and resolve it.

    Returns the OCI ``linux.seccomp`` dict, or ``None`` for a profile with
    neither a default action nor rules (docker reads that as "no filter").
    Raises CartonError with a one-line message for a file that cannot be read,
    is not JSON, or is not a valid profile.
    """
    import json

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise CartonError(f"opening seccomp profile ({path}) failed: {e.strerror}") from None
    except UnicodeDecodeError:
        raise CartonError(f"seccomp profile {path}: not UTF-8 text") from None
    try:
        profile = json.loads(text)
    except ValueError as e:
        where = f" (line {e.lineno}, column {e.colno})" if hasattr(e, "lineno") else ""
        msg = getattr(e, "msg", str(e))
        raise CartonError(f"seccomp profile {path}: invalid JSON: {msg}{where}") from None
    return resolve(profile, capabilities, machine, kernel, source=f"seccomp profile {path}")


# -- resolving a profile ------------------------------------------------------------------


def resolve(profile, capabilities, machine=None, kernel=None, source="seccomp profile"):
    """Turn a profile in docker's format into OCI ``linux.seccomp`` for one container.

    Docker's rules (moby/profiles seccomp_linux.go, setupSeccomp):

    * ``archMap``: the entry for this machine's architecture gives
      ``architectures`` (it and its sub-architectures); a profile may give
      ``architectures`` directly instead, not both;
    * a rule with ``excludes`` is dropped if the container has *any* of its
      capabilities, if this machine's architecture is one of its ``arches``,
      or if the kernel is at least its ``minKernel``;
    * a rule with ``includes`` is kept only if the container has *all* its
      capabilities, this machine's architecture is one of its ``arches``, and
      the kernel is at least its ``minKernel``;
    * ``name`` (older profiles) is a single-element ``names``.

    "The container has" means its bounding set. An OCI ``linux.seccomp``
    object has none of these and comes out as it went in (checked).
    """
    if not isinstance(profile, dict):
        raise CartonError(f"{source}: expected a JSON object")
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None  # docker: no default action and no rules means no filter
    caps = _bounding(capabilities)
    arch, oci_arch = _machine(machine)
    kernel = _kernel_version() if kernel is None else tuple(kernel)

    default = profile.get("defaultAction")
    if not default:
        raise CartonError(f"{source}: defaultAction is missing")
    _check_action(default, source, "defaultAction")
    result = {"defaultAction": default}
    if profile.get("defaultErrnoRet") is not None:
        result["defaultErrnoRet"] = _uint(profile["defaultErrnoRet"], source, "defaultErrnoRet")

    if profile.get("architectures") and profile.get("archMap"):
        raise CartonError(f"{source}: both 'architectures' and 'archMap' are given; use one")
    arches = list(_list(profile.get("architectures"), source, "architectures"))
    for i, entry in enumerate(_list(profile.get("archMap"), source, "archMap")):
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise CartonError(f"{source}: archMap[{i}] needs an 'architecture'")
        if entry["architecture"] == oci_arch:
            arches = [entry["architecture"]] + list(
                _list(entry.get("subArchitectures"), source, f"archMap[{i}].subArchitectures"))
    for name in arches:
        if name not in ARCHES:
            raise CartonError(f"{source}: unknown architecture {name!r}")
    if arches:
        result["architectures"] = arches

    flags = _list(profile.get("flags"), source, "flags")
    for flag in flags:
        if flag not in FLAGS:
            raise CartonError(f"{source}: unknown flag {flag!r} (known: {', '.join(FLAGS)})")
    if flags:
        result["flags"] = list(flags)
    if profile.get("listenerPath"):
        raise CartonError(f"{source}: listenerPath (a seccomp listener) is not supported by Carton yet")

    rules = []
    for i, rule in enumerate(_list(profile.get("syscalls"), source, "syscalls")):
        where = f"syscalls[{i}]"
        if not isinstance(rule, dict):
            raise CartonError(f"{source}: {where} must be an object")
        if _applies(rule, caps, arch, kernel, source, where):
            rules.append(_oci_rule(rule, source, where))
    result["syscalls"] = rules
    return result


def _applies(rule, caps, arch, kernel, source, where):
    excludes = rule.get("excludes") or {}
    includes = rule.get("includes") or {}
    for key, cond in (("excludes", excludes), ("includes", includes)):
        if not isinstance(cond, dict):
            raise CartonError(f"{source}: {where}.{key} must be an object")
    ex_caps = _list(excludes.get("caps"), source, f"{where}.excludes.caps")
    if any(c in caps for c in ex_caps):
        return False
    if arch in _list(excludes.get("arches"), source, f"{where}.excludes.arches"):
        return False
    if excludes.get("minKernel") and kernel >= _min_kernel(excludes["minKernel"], source, where):
        return False
    in_caps = _list(includes.get("caps"), source, f"{where}.includes.caps")
    if any(c not in caps for c in in_caps):
        return False
    in_arches = _list(includes.get("arches"), source, f"{where}.includes.arches")
    if in_arches and arch not in in_arches:
        return False
    if includes.get("minKernel") and kernel < _min_kernel(includes["minKernel"], source, where):
        return False
    return True


def _oci_rule(rule, source, where):
    if rule.get("name") and rule.get("names"):
        raise CartonError(f"{source}: {where} has both 'name' and 'names'; use one")
    names = [rule["name"]] if rule.get("name") else _list(rule.get("names"), source, f"{where}.names")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise CartonError(f"{source}: {where} needs syscall names")
    action = rule.get("action")
    _check_action(action, source, f"{where}.action")
    out = {"names": list(names), "action": action}
    if rule.get("errnoRet") is not None:
        out["errnoRet"] = _uint(rule["errnoRet"], source, f"{where}.errnoRet")
    args = []
    for j, arg in enumerate(_list(rule.get("args"), source, f"{where}.args")):
        field = f"{where}.args[{j}]"
        if not isinstance(arg, dict):
            raise CartonError(f"{source}: {field} must be an object")
        index = arg.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 5:
            raise CartonError(f"{source}: {field}.index must be 0 to 5 (a syscall has six arguments)")
        if arg.get("op") not in OPERATORS:
            raise CartonError(f"{source}: {field}: unknown operator {arg.get('op')!r} "
                              f"(known: {', '.join(OPERATORS)})")
        entry = {"index": index, "value": _uint(arg.get("value", 0), source, f"{field}.value"),
                 "op": arg["op"]}
        if arg.get("valueTwo"):
            entry["valueTwo"] = _uint(arg["valueTwo"], source, f"{field}.valueTwo")
        args.append(entry)
    if args:
        out["args"] = args
    return out


def _check_action(action, source, field):
    if action == "SCMP_ACT_NOTIFY":
        raise CartonError(f"{source}: {field} SCMP_ACT_NOTIFY (a seccomp listener) is not "
                          "supported by Carton yet")
    if action not in ACTIONS:
        raise CartonError(f"{source}: {field}: unknown action {action!r} "
                          f"(known: {', '.join(ACTIONS)})")


def _uint(value, source, field):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        raise CartonError(f"{source}: {field} must be a non-negative integer, not {value!r}")
    return value


def _list(value, source, field):
    if value is None:
        return []
    if not isinstance(value, list):
        raise CartonError(f"{source}: {field} must be a list")
    return value


def _min_kernel(text, source, where):
    parts = text.split(".") if isinstance(text, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or parts == ["0", "0"]:
        raise CartonError(f"{source}: {where}: invalid minKernel {text!r}, expected "
                          "\"<kernel>.<major>\" like \"4.8\"")
    return int(parts[0]), int(parts[1])


def _bounding(capabilities):
    if capabilities is None:
        return set()
    if hasattr(capabilities, "bounding"):
        return set(capabilities.bounding)
    return set(capabilities)


def _machine(machine):
    machine = machine or os.uname().machine
    return MACHINES.get(machine, (machine, None))


def _kernel_version():
    """(major, minor) of the running kernel: ``6.18.44-fc`` -> (6, 18)."""
    release = os.uname().release
    numbers = []
    for part in release.split(".")[:2]:
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        numbers.append(int(digits or 0))
    return tuple(numbers + [0] * (2 - len(numbers)))
