"""Process attributes: prctl(2) and friends.

Constants from <linux/prctl.h>.
"""


from .. import explain
from . import cdata
from .libc import check, libc
from .names import RLIMITS

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

_INFINITY = 0xFFFFFFFFFFFFFFFF  # RLIM_INFINITY


class _Rlimit(cdata.Structure):
    """struct rlimit, with 64-bit fields as prlimit(2) takes them."""

    _fields_ = [("rlim_cur", cdata.c_uint64), ("rlim_max", cdata.c_uint64)]


def set_child_subreaper():
    """Adopt orphaned descendants instead of letting them go to PID 1. prctl(2) PR_SET_CHILD_SUBREAPER.

    Why: the container's init is the grandchild of ``carton`` (a PID namespace
    only applies to the children of the process that made it, so a helper
    makes the namespace and forks the init, then exits). As a subreaper,
    ``carton`` inherits the init when that helper exits, and can wait for it.
    """
    explain.call("prctl", explain.Raw("PR_SET_CHILD_SUBREAPER"), 1)
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")



def set_no_new_privileges():
    """Forbid gaining privileges through execve (setuid bits, file capabilities). prctl(2).

    Why: ``noNewPrivileges``: even a setuid-root program inside the container
    then runs with the caller's privileges. It is inherited and cannot be undone.
    """
    explain.call("prctl", explain.Raw("PR_SET_NO_NEW_PRIVS"), 1)
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def set_dumpable(on):
    """Mark this process (not) dumpable. prctl(2) PR_SET_DUMPABLE.

    Why: while Carton's own code runs inside a container's namespaces, a
    process of the container must not be able to ptrace it or open its
    ``/proc/PID/exe`` (the host's Python) for writing: CVE-2019-5736 is that
    class. A non-dumpable process's /proc files belong to root and refuse
    ptrace. execve of the user's program makes it dumpable again.
    """
    explain.call("prctl", explain.Raw("PR_SET_DUMPABLE"), int(on))
    check(libc.prctl(PR_SET_DUMPABLE, int(on), 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def set_rlimit(name, soft, hard):
    """Set one resource limit of this process. prlimit(2) (setrlimit with 64-bit values).

    Why: ``process.rlimits``, e.g. how many files the container may open.
    """
    explain.call("setrlimit", explain.Raw(name), explain.Raw(f"{{soft={soft}, hard={hard}}}"))
    limit = _Rlimit(min(soft, _INFINITY), min(hard, _INFINITY))
    check(libc.prlimit(0, RLIMITS[name], cdata.byref(limit), None), "setrlimit", name)


def set_oom_score_adj(value):
    """How eager the OOM killer is to pick this process: -1000..1000. See proc(5).

    Why: ``process.oomScoreAdj``. Written before the user switch: lowering it needs root.
    """
    explain.call("write", "/proc/self/oom_score_adj", str(value))
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(value))
