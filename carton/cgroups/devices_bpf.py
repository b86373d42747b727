"""Device rules on cgroup v2: ``linux.resources.devices`` as an eBPF program.

cgroup v1 has a ``devices`` controller: write rules to ``devices.allow`` and
``devices.deny``, and the kernel checks every open and mknod of a device node
against them. cgroup v2 has no such files. Instead a program of type
``BPF_PROG_TYPE_CGROUP_DEVICE`` is attached to the cgroup; the kernel runs it
at each of those accesses with the device's type, major and minor and the
access asked for (``struct bpf_cgroup_dev_ctx``), and it returns 1 to allow,
0 to deny (the process gets ``EPERM``). This file writes that program
(``linux/bpf.py`` has the instructions and bpf(2)).

**What a list of rules means.** Carton gives the v1 kernel the very same
list (``resources.py``: "deny all", the spec's rules, the default rules), so
the program must decide as the v1 kernel does. And the v1 kernel does *not*
look for "the last rule that matches" at each access: it replays the list,
once, into a state, a *default* (allow or deny everything) and a set of
*exceptions*, each a (type, major, minor) with access bits (``*`` = any):

* a rule of type ``a`` sets the default (``allow a``: allow) and drops every
  exception;
* a rule whose action is not the default's adds its access bits to the
  exception with the same type, major and minor (making it if needed);
* a rule whose action is the default's takes its access bits away from the
  exception with *exactly* the same type, major and minor. It does not punch
  a hole in a wider one: after "allow c \\*:\\* rwm", "deny c 1:3 rwm" changes
  nothing and ``/dev/null`` stays usable.

Then, at each access:

* default deny: allowed if *one* exception matches the device and holds
  every bit asked for (an ``O_RDWR`` open asks for r and w; an "r" exception
  and a "w" exception for the same device do not add up);
* default allow: denied if an exception matches and holds *any* bit asked for.

:func:`replay` computes that state, :func:`program` writes it out. Every
exception has the same action (the opposite of the default), so their order
does not matter: the first one that matches decides. runc does the same
since 1.0.0-rc92 (its "devices emulator", written for the same reason). Its
first eBPF filter emitted the rules in reverse order with an early return
each, so that the last matching rule won; that answers the example above the
other way (``/dev/null`` denied) and so made a config mean one thing on v1
and another on v2.
"""

import errno
import os

from ..linux import bpf
from ..linux.bpf import BPF_JNE, BPF_JSET, R0, R1, R2, R3, R4, R5, Label, exit_insn, jump_if, load_u32

TYPES = {"b": bpf.BPF_DEVCG_DEV_BLOCK, "c": bpf.BPF_DEVCG_DEV_CHAR}
ACCESS = {"m": bpf.BPF_DEVCG_ACC_MKNOD, "r": bpf.BPF_DEVCG_ACC_READ, "w": bpf.BPF_DEVCG_ACC_WRITE}
RWM = bpf.BPF_DEVCG_ACC_MKNOD | bpf.BPF_DEVCG_ACC_READ | bpf.BPF_DEVCG_ACC_WRITE

# The kernel stores the string; it matters only to programs that call the kernel's
# GPL-only helper functions, and this one calls no helper at all. So it says what
# Carton's own code is under (pyproject.toml), as runc's filter does for runc.
LICENSE = "Apache"
NAME = "carton_devices"  # what bpftool prog shows (at most 15 characters)

# Device numbers on Linux are 12 bits (major) and 20 bits (minor). A rule with a
# number of 2**31 or more can match no device, and a jump's immediate is a signed
# 32-bit number: such a rule is left out of the program.
LARGEST_NUMBER = 2**31 - 1


class DeviceRules:
    """What a list of rules comes to (see the module's docstring).

    ``default_allow``: the answer when no exception matches.
    ``exceptions``: ``{(type, major, minor): access}``; type is ``"b"`` or
    ``"c"``, major and minor a number or ``None`` (any), access a mask of
    ``ACCESS`` bits, never 0.
    """

    __slots__ = ("default_allow", "exceptions")

    def __init__(self, default_allow=False, exceptions=None):
        self.default_allow = default_allow
        self.exceptions = dict(exceptions or {})

    def __repr__(self):
        return f"DeviceRules(default_allow={self.default_allow}, exceptions={self.exceptions})"

    def allows_everything(self):
        return self.default_allow and not self.exceptions


def parse(rule):
    """``"c 1:3 rwm"`` (the kernel's syntax, as ``resources.device_rule`` writes it) as
    ``("c", 1, 3, access bits)``, with ``None`` for ``*``."""
    kind, numbers, access = rule.split()
    major, minor = (None if n == "*" else int(n) for n in numbers.split(":"))
    bits = 0
    for letter in access:
        bits |= ACCESS[letter]
    return kind, major, minor, bits


def replay(rules):
    """Replay ``[(allow, "c 1:3 rwm")]`` (``resources.Plan.devices``) as the v1 kernel does.

    The cgroup starts as a v1 child of a parent that allows everything: default
    allow, no exceptions (``Plan.devices`` starts with "deny all" anyway).
    """
    state = DeviceRules(default_allow=True)
    for allow, text in rules:
        kind, major, minor, access = parse(text)
        if kind == "a":
            state.default_allow = allow
            state.exceptions.clear()
            continue
        key = (kind, major, minor)
        if allow != state.default_allow:  # an exception to the default: add these bits
            state.exceptions[key] = state.exceptions.get(key, 0) | access
        elif key in state.exceptions:  # the default's own action: take them away, exact match only
            left = state.exceptions[key] & ~access
            if left:
                state.exceptions[key] = left
            else:
                del state.exceptions[key]
    return state


def program(state):
    """The eBPF program that decides as ``state`` says (a list of ``bpf.Insn``).

    The context (r1) is read once into registers: r2 the device type, r3 the
    access asked for, r4 the major, r5 the minor. Then one block per
    exception, in a fixed order (sorted), each "if the device or the access
    does not match, go on to the next block; else return the exceptions'
    action"; the last block returns the default.
    """
    verdict = 0 if state.default_allow else 1  # what a matching exception returns
    items = [
        load_u32(R2, R1, bpf.DEVCG_CTX_ACCESS_TYPE),
        bpf.and32(R2, 0xFFFF),                       # r2: the type, in the low 16 bits
        load_u32(R3, R1, bpf.DEVCG_CTX_ACCESS_TYPE),
        bpf.rsh32(R3, 16),                           # r3: the access, in the high 16 bits
        load_u32(R4, R1, bpf.DEVCG_CTX_MAJOR),
        load_u32(R5, R1, bpf.DEVCG_CTX_MINOR),
    ]
    blocks = [(key, access) for key, access in sorted(state.exceptions.items(), key=_order)
              if all(n is None or n <= LARGEST_NUMBER for n in key[1:])]
    for i, ((kind, major, minor), access) in enumerate(blocks):
        following = f"rule{i + 1}" if i + 1 < len(blocks) else "default"
        items.append(Label(f"rule{i}"))
        items.append(jump_if(BPF_JNE, R2, TYPES[kind], following))
        if major is not None:
            items.append(jump_if(BPF_JNE, R4, major, following))
        if minor is not None:
            items.append(jump_if(BPF_JNE, R5, minor, following))
        if access != RWM:  # rwm holds every bit: any access matches
            if verdict == 1:
                # allow only if every bit asked for is in the exception: skip it if
                # the access has a bit outside of it
                items.append(jump_if(BPF_JSET, R3, 0xFFFF & ~access, following))
            else:
                # deny if any bit asked for is in it: skip it if none is. r1, the
                # context, is not needed any more and serves as scratch.
                items += [bpf.mov32_reg(R1, R3), bpf.and32(R1, access),
                          jump_if(bpf.BPF_JEQ, R1, 0, following)]
        items += [bpf.mov32(R0, verdict), exit_insn()]
    items += [Label("default"), bpf.mov32(R0, 1 if state.default_allow else 0), exit_insn()]
    return bpf.assemble(items)


def _order(item):
    (kind, major, minor), _ = item
    return kind, -1 if major is None else major, -1 if minor is None else minor


def listing(insns):
    """The program as text, one instruction a line, numbered (for ``--explain`` and tests)."""
    return [f"{pc:3d}: {insn}" for pc, insn in enumerate(insns)]


def load(insns):
    """Load the program (bpf(2) BPF_PROG_LOAD) and return its fd.

    Linux before 5.11 charges a program's memory to the user's
    ``RLIMIT_MEMLOCK`` (all of root's programs together), and refuses with
    ``EPERM`` past it. If so, and the limit can be raised, it is raised for
    this one call and set back: the container's own processes, forked from
    this one later, must not inherit an unlimited one.
    """
    try:
        return bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, insns, LICENSE, NAME)
    except PermissionError as e:
        if e.errno != errno.EPERM or getattr(e, "verifier_log", None):
            raise  # EACCES: the verifier refused it, no limit is to blame
        import resource

        old = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        if old[0] == resource.RLIM_INFINITY:
            raise
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (ValueError, OSError):
            raise e from None
        try:
            return bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, insns, LICENSE, NAME)
        finally:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, old)


def attached(directory):
    """The ids of the device programs attached to the cgroup ``directory`` itself."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)
    finally:
        os.close(fd)


def install(directory, insns):
    """Make ``insns`` the device filter of the cgroup ``directory``, in place of any before it.

    The order is runc's: find the programs attached now, load and attach
    the new one (``BPF_F_ALLOW_MULTI``: the cgroup may hold several, and the
    container's own cgroups below may attach theirs), then detach the old
    ones. In between both run and an access must pass both, so the
    container never gets more than either filter gives. A program attached
    to a parent cgroup (by systemd, say) is not ours and stays.
    """
    from .. import explain

    if explain.enabled():
        explain.note(f"the device filter for {directory}:")
        for line in listing(insns):
            explain.note("  " + line)
    dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    old = []
    try:
        for prog_id in bpf.prog_query(dirfd, bpf.BPF_CGROUP_DEVICE):
            try:
                old.append(bpf.prog_fd_by_id(prog_id))
            except PermissionError:
                # A security module may keep us from a program someone else attached.
                # Leaving it is safe: one more filter can only deny more (runc does so too).
                continue
        fd = load(insns)
        try:
            bpf.prog_attach(dirfd, fd, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
        finally:
            os.close(fd)  # attached, the cgroup holds the program; not attached, it is freed
        for old_fd in old:
            bpf.prog_detach(dirfd, old_fd, bpf.BPF_CGROUP_DEVICE)
    finally:
        for old_fd in old:
            os.close(old_fd)
        os.close(dirfd)
