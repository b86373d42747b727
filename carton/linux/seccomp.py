"""seccomp: a filter on which system calls the container's process may make. seccomp(2).

A seccomp filter is a small BPF program the kernel runs at every syscall:
allow it, fail it with an errno, kill the process, log it... Writing BPF by
hand is error-prone, so, like runc and crun, we describe the filter to
libseccomp (the system library, through ctypes) and let it compile it
(``compile``). We load the compiled program ourselves with seccomp(2)
(``load_program``): so a program compiled once can be kept and loaded again
(``security/seccomp_cache.py``), without libseccomp, in a fraction of a
millisecond instead of 10-15 ms for docker's profile.

The OCI ``linux.seccomp`` object maps almost one to one onto libseccomp's API:
a default action, the architectures, and rules (syscall names, an action,
argument comparisons). Constants from <seccomp.h> (libseccomp 2.5).
"""

from .. import explain
from ..errors import CartonError
from . import cdata

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_NOTIFY = 0x7FC00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000


def _errno_action(errno_):
    return 0x00050000 | (errno_ & 0xFFFF)


def _trace_action(msg):
    return 0x7FF00000 | (msg & 0xFFFF)


# Comparison operators for syscall arguments (enum scmp_compare).
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

# Filter attributes (enum scmp_filter_attr).
_ATTR_CTL_NNP = 3     # libseccomp sets no_new_privs itself unless told not to
_ATTR_CTL_TSYNC = 4
_ATTR_CTL_LOG = 6
_ATTR_CTL_SSB = 7
_ATTR_CTL_WAITKILL = 12

FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": _ATTR_CTL_TSYNC, "SECCOMP_FILTER_FLAG_LOG": _ATTR_CTL_LOG,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _ATTR_CTL_SSB,
         "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": _ATTR_CTL_WAITKILL}

_EPERM = 1


_lib = None
_ArgCmp = None  # struct scmp_arg_cmp, made with libseccomp's other types


def _libseccomp():
    """libseccomp through ctypes itself (imported here: only compiling a filter needs it)."""
    global _lib, _ArgCmp
    if _lib is None:
        import ctypes

        class ArgCmp(ctypes.Structure):
            """struct scmp_arg_cmp: compare argument ``arg`` with ``op`` against datum_a (and _b)."""

            _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                        ("datum_b", ctypes.c_uint64)]

        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError:
            raise CartonError("the config asks for a seccomp filter, but libseccomp is not "
                              "installed (apt-get install libseccomp2)", 1) from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        for name in ("seccomp_arch_add", "seccomp_load", "seccomp_attr_set",
                     "seccomp_rule_add_array", "seccomp_arch_exist", "seccomp_export_bpf"):
            getattr(lib, name).restype = ctypes.c_int
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_api_get.restype = ctypes.c_uint
        lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_exist.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(ArgCmp)]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        _lib, _ArgCmp = lib, ArgCmp
    return _lib


def preload():
    """Load libseccomp now, while the host's /usr/lib is still our filesystem."""
    _libseccomp()


def action(name, errno_ret=None, default_errno=_EPERM):
    """An OCI action name (``SCMP_ACT_ERRNO``...) as libseccomp's action value."""
    if name == "SCMP_ACT_ERRNO":
        return _errno_action(default_errno if errno_ret is None else errno_ret)
    if name == "SCMP_ACT_TRACE":
        return _trace_action(default_errno if errno_ret is None else errno_ret)
    actions = {"SCMP_ACT_KILL": SCMP_ACT_KILL_THREAD, "SCMP_ACT_KILL_THREAD": SCMP_ACT_KILL_THREAD,
               "SCMP_ACT_KILL_PROCESS": SCMP_ACT_KILL_PROCESS, "SCMP_ACT_TRAP": SCMP_ACT_TRAP,
               "SCMP_ACT_LOG": SCMP_ACT_LOG, "SCMP_ACT_ALLOW": SCMP_ACT_ALLOW}
    if name == "SCMP_ACT_NOTIFY":
        raise CartonError("seccomp action SCMP_ACT_NOTIFY (a listener) is not supported yet", 1)
    if name not in actions:
        raise CartonError(f"unknown seccomp action {name!r}", 1)
    return actions[name]


def load(config):
    """Build the filter the OCI ``linux.seccomp`` object describes, and load it. seccomp(2).

    Why: a syscall filter is the last wall between the container and the
    host's kernel: it keeps reboot(2), kexec_load, mount(2), keyctl(2) and
    friends from the container even if something else went wrong. It is
    loaded as late as possible, so Carton's own setup is not filtered.
    """
    load_program(compile(config), kernel_flags(config))


def compile(config):
    """The BPF program (``struct sock_filter`` array, as bytes) for an OCI ``linux.seccomp``.

    libseccomp builds it from the rules (seccomp_rule_add_array(3)) and
    writes it out with seccomp_export_bpf(3), to a memfd we read back.
    """
    import os

    lib = _libseccomp()
    default_errno = config.get("defaultErrnoRet")
    default = action(config.get("defaultAction", "SCMP_ACT_ALLOW"), default_errno)
    explain.call("seccomp_init", explain.Raw(config.get("defaultAction", "SCMP_ACT_ALLOW")))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise CartonError("seccomp_init failed: invalid default action", 1)
    try:
        # no_new_privs is the config's decision (process.noNewPrivileges), not libseccomp's.
        _check(lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0), "seccomp_attr_set")
        for flag in config.get("flags") or ():
            if flag not in FLAGS:
                raise CartonError(f"unknown seccomp flag {flag!r}", 1)
        for arch in config.get("architectures") or ():
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if not token:
                raise CartonError(f"unknown seccomp architecture {arch!r}", 1)
            if lib.seccomp_arch_exist(ctx, token) != 0:  # the native one is there already
                _check(lib.seccomp_arch_add(ctx, token), f"seccomp_arch_add {arch}")
        rules = 0
        for rule in config.get("syscalls") or ():
            act = action(rule.get("action", ""), rule.get("errnoRet"), default_errno or _EPERM)
            if act == default:
                continue  # libseccomp refuses rules that repeat the default action
            args = rule.get("args") or []
            array = (_ArgCmp * len(args))(*[
                _ArgCmp(a["index"], _operator(a.get("op")), a.get("value", 0), a.get("valueTwo", 0))
                for a in args]) if args else None
            for name in rule.get("names") or ([rule["name"]] if rule.get("name") else []):
                number = lib.seccomp_syscall_resolve_name(name.encode())
                if number < 0:
                    continue  # a syscall this libseccomp does not know: runc skips it too
                _check(lib.seccomp_rule_add_array(ctx, act, number, len(args), array),
                       f"seccomp rule for {name}")
                rules += 1
        explain.note(f"{rules} syscall rules")
        explain.call("seccomp_export_bpf", explain.Raw("ctx"), explain.Raw("memfd"))
        fd = os.memfd_create("carton-seccomp", os.MFD_CLOEXEC)
        try:
            _check(lib.seccomp_export_bpf(ctx, fd), "seccomp_export_bpf")
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


# seccomp(2): operation and the flags the OCI config may name (<linux/seccomp.h>).
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_SECCOMP_SET_MODE_FILTER = 1
KERNEL_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}


def kernel_flags(config):
    """The config's ``flags`` as seccomp(2)'s flags; an unknown one is an error."""
    flags = 0
    for flag in config.get("flags") or ():
        if flag not in KERNEL_FLAGS:
            raise CartonError(f"unknown seccomp flag {flag!r}", 1)
        flags |= KERNEL_FLAGS[flag]
    return flags


class _SockFprog(cdata.Structure):
    """struct sock_fprog: the number of instructions and a pointer to them (8 bytes each)."""

    _fields_ = [("len", cdata.c_ushort), ("filter", cdata.c_char_p)]


def load_program(program, flags=0):
    """Install a compiled filter on this process: seccomp(SECCOMP_SET_MODE_FILTER). seccomp(2).

    Why ourselves and not seccomp_load(3): a program compiled earlier (by
    carton, before forking the init; or kept in the cache) needs no
    libseccomp at all here. Without no_new_privs this needs CAP_SYS_ADMIN,
    which the init still has at this step (libseccomp would need it too).
    """
    import os

    if len(program) % 8 or not program:
        raise CartonError("seccomp: the compiled filter is damaged", 1)
    prog = _SockFprog(len(program) // 8, program)
    explain.call("seccomp", explain.Raw("SECCOMP_SET_MODE_FILTER"), explain.Raw(hex(flags)),
                 explain.Raw(f"{{{len(program) // 8} BPF instructions}}"))
    from .libc import syscall

    if syscall(_SYS_SECCOMP[os.uname().machine], _SECCOMP_SET_MODE_FILTER, cdata.c_uint(flags),
               cdata.byref(prog)) != 0:
        err = cdata.get_errno()
        raise CartonError(f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(err)}", 1)


def fingerprint():
    """What a compiled program depends on besides the config: libseccomp's version and API
    level (which kernel features it uses), the kernel, the machine."""
    import os

    # Through cdata, not _libseccomp(): a container whose program is kept needs no ctypes.
    try:
        lib = cdata.Library("libseccomp.so.2")
    except OSError:
        raise CartonError("the config asks for a seccomp filter, but libseccomp is not "
                          "installed (apt-get install libseccomp2)", 1) from None
    lib.seccomp_version.restype = cdata.POINTER(cdata.c_uint * 3)
    version = lib.seccomp_version().contents
    uname = os.uname()
    return f"libseccomp {version[0]}.{version[1]}.{version[2]} api {lib.seccomp_api_get()} " \
           f"{uname.release} {uname.machine}"


def _operator(name):
    if name not in OPERATORS:
        raise CartonError(f"unknown seccomp operator {name!r}", 1)
    return OPERATORS[name]


def _check(result, what):
    if result < 0:
        import os

        raise CartonError(f"{what}: {os.strerror(-result)}", 1)
