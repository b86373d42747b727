"""Process attributes: prctl(2) and friends.

Constants from <linux/prctl.h>.
"""

from .. import explain
from .libc import check, libc

PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper():
    """Adopt orphaned descendants instead of letting them go to PID 1. prctl(2) PR_SET_CHILD_SUBREAPER.

    Why: the container's init is the grandchild of ``carton`` (a PID namespace
    only applies to the children of the process that made it, so a helper
    makes the namespace and forks the init, then exits). As a subreaper,
    ``carton`` inherits the init when that helper exits, and can wait for it.
    """
    explain.call("prctl", explain.Raw("PR_SET_CHILD_SUBREAPER"), 1)
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")

