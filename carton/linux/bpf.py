"""eBPF: bpf(2), and the instructions of a program, for cgroup v2's device filter.

On cgroup v2 there is no ``devices.allow`` file. Instead the kernel runs a
small program, attached to the cgroup, every time a process in it opens or
makes (mknod) a device node: the program reads which device and which access,
and returns 1 (allow) or 0 (deny). Carton writes that program itself, a few
dozen instructions (``cgroups/devices_bpf.py``), so it needs two things from
the kernel layer, both here:

* **the instruction format**, ``struct bpf_insn`` (8 bytes: an opcode, the
  destination and source registers in one byte, a signed 16-bit offset, a
  signed 32-bit immediate), with one small named helper per instruction the
  filter uses and a listing in the notation of the kernel's verifier;
* **bpf(2)**: load the program (``BPF_PROG_LOAD``, which runs the verifier),
  attach it to a cgroup directory (``BPF_PROG_ATTACH``), list (``BPF_PROG_QUERY``,
  ``BPF_PROG_GET_FD_BY_ID``) and detach (``BPF_PROG_DETACH``) the programs
  already there.

Constants and struct layouts from <linux/bpf.h> and <linux/bpf_common.h>;
the syscall number is x86-64's, and instructions are encoded little-endian.
"""

import ctypes
import errno
import struct

from .. import explain
from .libc import check, syscall, syscall_error

SYS_bpf = 321  # x86_64, <asm/unistd_64.h>

# enum bpf_cmd
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15  # enum bpf_prog_type
BPF_CGROUP_DEVICE = 6             # enum bpf_attach_type

# Attach flags. With ALLOW_MULTI a cgroup keeps a list of programs, all of which
# must allow an access, and its children may attach programs of their own.
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1

# struct bpf_cgroup_dev_ctx, what a device program reads (the context, r1):
#   u32 access_type   (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
#   u32 major
#   u32 minor
DEVCG_CTX_ACCESS_TYPE, DEVCG_CTX_MAJOR, DEVCG_CTX_MINOR = 0, 4, 8
BPF_DEVCG_ACC_MKNOD = 1 << 0
BPF_DEVCG_ACC_READ = 1 << 1
BPF_DEVCG_ACC_WRITE = 1 << 2
BPF_DEVCG_DEV_BLOCK = 1 << 0
BPF_DEVCG_DEV_CHAR = 1 << 1

BPF_OBJ_NAME_LEN = 16
LOG_SIZE = 64 * 1024  # the verifier's log, asked for only when a load fails

# -- instructions -------------------------------------------------------------------
# An opcode is class | operation | source (or class | size | mode for loads).

BPF_LDX, BPF_ALU, BPF_JMP = 0x01, 0x04, 0x05          # classes (BPF_ALU: 32-bit)
BPF_W, BPF_MEM = 0x00, 0x60                            # load size and mode
BPF_AND, BPF_RSH, BPF_MOV = 0x50, 0x70, 0xB0          # ALU operations
BPF_JA, BPF_JEQ, BPF_JSET, BPF_JNE, BPF_EXIT = 0x00, 0x10, 0x40, 0x50, 0x90  # jumps
BPF_K, BPF_X = 0x00, 0x08                              # source: the immediate, or a register

R0, R1, R2, R3, R4, R5 = range(6)  # r0: the return value; r1: the context; r2-r5: scratch

_ALU_SIGNS = {BPF_AND: "&=", BPF_RSH: ">>=", BPF_MOV: "="}
_JUMP_SIGNS = {BPF_JEQ: "==", BPF_JNE: "!=", BPF_JSET: "&"}


class Insn:
    """One ``struct bpf_insn``. ``target`` names the label a jump goes to until
    :func:`assemble` turns it into ``off``, the number of instructions to skip."""

    __slots__ = ("code", "dst", "src", "off", "imm", "target")

    def __init__(self, code, dst=0, src=0, off=0, imm=0, target=None):
        self.code = code
        self.dst = dst
        self.src = src
        self.off = off
        self.imm = imm
        self.target = target

    def encode(self):
        """The 8 bytes: u8 code; u8 dst_reg:4, src_reg:4 (dst in the low nibble on a
        little-endian machine); s16 off; s32 imm."""
        return struct.pack("<BBhi", self.code, self.dst | self.src << 4, self.off, self.imm)

    def __eq__(self, other):
        return isinstance(other, Insn) and self.encode() == other.encode() and self.target == other.target

    def __repr__(self):
        return f"Insn({self})"

    def __str__(self):
        """The instruction as the kernel's verifier log prints it: ``if r2 != 0x2 goto pc+4``."""
        cls, op = self.code & 0x07, self.code & 0xF0
        source = f"r{self.src}" if self.code & BPF_X else hex(self.imm)
        if cls == BPF_LDX:
            return f"r{self.dst} = *(u32 *)(r{self.src} {self.off:+d})"
        if cls == BPF_ALU:
            if self.code & BPF_X:
                source = f"w{self.src}"
            else:
                source = hex(self.imm) if op == BPF_AND else str(self.imm)
            return f"w{self.dst} {_ALU_SIGNS[op]} {source}"
        if op == BPF_EXIT:
            return "exit"
        where = f"pc{self.off:+d}" if self.target is None else f"pc{self.off:+d} <{self.target}>"
        if op == BPF_JA:
            return f"goto {where}"
        return f"if r{self.dst} {_JUMP_SIGNS[op]} {source} goto {where}"


class Label:
    """A place in a program that jumps can name (it takes no room in the program)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


def load_u32(dst, src, offset):
    """``dst = *(u32 *)(src + offset)``: read a field of the context (zero-extended)."""
    return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, offset)


def and32(dst, imm):
    """``w_dst &= imm`` (32-bit: the upper half of the register becomes zero)."""
    return Insn(BPF_ALU | BPF_AND | BPF_K, dst, imm=imm)


def rsh32(dst, imm):
    """``w_dst >>= imm``, a logical shift."""
    return Insn(BPF_ALU | BPF_RSH | BPF_K, dst, imm=imm)


def mov32(dst, imm):
    """``w_dst = imm``."""
    return Insn(BPF_ALU | BPF_MOV | BPF_K, dst, imm=imm)


def mov32_reg(dst, src):
    """``w_dst = w_src``."""
    return Insn(BPF_ALU | BPF_MOV | BPF_X, dst, src)


def jump_if(op, dst, imm, target):
    """``if r_dst OP imm goto target``; ``op`` is BPF_JEQ, BPF_JNE or BPF_JSET (``r_dst & imm``).
    The comparison is 64-bit and ``imm`` is sign-extended, so only 0 <= imm < 2**31 compares
    as expected against a zero-extended u32."""
    return Insn(BPF_JMP | op | BPF_K, dst, imm=imm, target=target)


def goto(target):
    return Insn(BPF_JMP | BPF_JA, target=target)


def exit_insn():
    """Return r0 to the kernel."""
    return Insn(BPF_JMP | BPF_EXIT)


def assemble(items):
    """Resolve the labels: a list of :class:`Insn` and :class:`Label` becomes a list of
    :class:`Insn` whose jumps carry their offsets (relative to the next instruction)."""
    places, count = {}, 0
    for item in items:
        if isinstance(item, Label):
            places[item.name] = count
        else:
            count += 1
    program = [item for item in items if isinstance(item, Insn)]
    for pc, insn in enumerate(program):
        if insn.target is not None:
            insn.off = places[insn.target] - (pc + 1)
    return program


def encode(program):
    """The program as the bytes ``BPF_PROG_LOAD`` reads."""
    return b"".join(insn.encode() for insn in program)


# -- bpf(2) -------------------------------------------------------------------------


class _ProgLoadAttr(ctypes.Structure):
    """The part of ``union bpf_attr`` that BPF_PROG_LOAD reads (up to expected_attach_type)."""

    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
                ("prog_ifindex", ctypes.c_uint32), ("expected_attach_type", ctypes.c_uint32)]


class _AttachAttr(ctypes.Structure):
    """BPF_PROG_ATTACH and BPF_PROG_DETACH."""

    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("replace_bpf_fd", ctypes.c_uint32)]


class _QueryAttr(ctypes.Structure):
    """BPF_PROG_QUERY: ``prog_cnt`` is the room in ``prog_ids`` going in, the count coming out."""

    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32)]


class _GetFdByIdAttr(ctypes.Structure):
    _fields_ = [("prog_id", ctypes.c_uint32), ("next_id", ctypes.c_uint32),
                ("open_flags", ctypes.c_uint32)]


def _bpf(cmd, attr):
    return syscall(SYS_bpf, cmd, ctypes.byref(attr), ctypes.sizeof(attr))


def prog_load(prog_type, program, license, name=""):
    """Load a program into the kernel, which verifies it first; return its fd. bpf(2), BPF_PROG_LOAD.

    Why: a cgroup v2 device filter is a program; the kernel runs only what
    its verifier has proven safe (every path ends, every read is in bounds).
    ``license`` matters only to programs that call GPL-only kernel helpers.
    When the kernel refuses the program, it is loaded again with the
    verifier's log, so the error says why: the ``OSError`` carries the log
    as ``.verifier_log`` and its last line as the hint ("" when the kernel
    gave none, e.g. for a program type it does not know).
    """
    code = ctypes.create_string_buffer(encode(program))
    license_text = ctypes.create_string_buffer(license.encode())
    attr = _ProgLoadAttr(prog_type=prog_type, insn_cnt=len(program), insns=ctypes.addressof(code),
                         license=ctypes.addressof(license_text), prog_name=name.encode())
    explain.call("bpf", explain.Raw("BPF_PROG_LOAD"),
                 explain.Raw(f"{{prog_type={prog_type}, insn_cnt={len(program)}, license={license!r}}}"))
    fd = _bpf(BPF_PROG_LOAD, attr)
    if fd >= 0:
        return fd
    first_errno = ctypes.get_errno()
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr.log_level, attr.log_size, attr.log_buf = 1, LOG_SIZE, ctypes.addressof(log)
    fd = _bpf(BPF_PROG_LOAD, attr)
    if fd >= 0:  # it passed the second time (a transient failure): keep it
        return fd
    text = log.value.decode(errors="replace").strip()
    # The log ends with statistics ("processed 1 insns ..."); the reason is just before.
    lines = [line for line in text.splitlines()
             if line.strip() and not line.startswith(("processed ", "verification time"))]
    error = syscall_error(first_errno, "bpf(BPF_PROG_LOAD)",
                          hint=f"the verifier says: {lines[-1]}" if lines else None)
    error.verifier_log = text
    raise error


def prog_attach(target_fd, prog_fd, attach_type, flags=0):
    """Attach a loaded program to a cgroup directory (its open fd). bpf(2), BPF_PROG_ATTACH.

    Why: from then on the kernel runs the program for every process in
    that cgroup and the cgroups below it.
    """
    explain.call("bpf", explain.Raw("BPF_PROG_ATTACH"),
                 explain.Raw(f"{{target_fd={target_fd}, attach_bpf_fd={prog_fd}, "
                             f"attach_type={attach_type}, attach_flags={flags}}}"))
    attr = _AttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type,
                       attach_flags=flags)
    check(_bpf(BPF_PROG_ATTACH, attr), "bpf(BPF_PROG_ATTACH)")


def prog_detach(target_fd, prog_fd, attach_type):
    """Detach one program from a cgroup directory. bpf(2), BPF_PROG_DETACH.

    Why: replacing a cgroup's device filter means attaching the new one and
    then detaching the old; with BPF_F_ALLOW_MULTI the program must be named.
    """
    explain.call("bpf", explain.Raw("BPF_PROG_DETACH"),
                 explain.Raw(f"{{target_fd={target_fd}, attach_bpf_fd={prog_fd}, "
                             f"attach_type={attach_type}}}"))
    attr = _AttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type)
    check(_bpf(BPF_PROG_DETACH, attr), "bpf(BPF_PROG_DETACH)")


def prog_query(target_fd, attach_type):
    """The ids of the programs attached to a cgroup directory itself (not its parents'),
    in the order they run. bpf(2), BPF_PROG_QUERY.

    Why: to find the device filter a cgroup already has, so that a new one
    replaces it instead of piling up.
    """
    room = 64  # the kernel allows 64 programs per cgroup and attach type
    while True:
        ids = (ctypes.c_uint32 * room)()
        attr = _QueryAttr(target_fd=target_fd, attach_type=attach_type,
                          prog_ids=ctypes.addressof(ids), prog_cnt=room)
        if _bpf(BPF_PROG_QUERY, attr) == 0:
            return list(ids[:attr.prog_cnt])
        code = ctypes.get_errno()
        if code != errno.ENOSPC or attr.prog_cnt <= room:  # ENOSPC: more than we made room for
            raise syscall_error(code, "bpf(BPF_PROG_QUERY)")
        room = attr.prog_cnt


def prog_fd_by_id(prog_id):
    """An fd for the loaded program with this id. bpf(2), BPF_PROG_GET_FD_BY_ID.

    Why: BPF_PROG_QUERY gives ids, BPF_PROG_DETACH wants an fd.
    """
    attr = _GetFdByIdAttr(prog_id=prog_id)
    return check(_bpf(BPF_PROG_GET_FD_BY_ID, attr), "bpf(BPF_PROG_GET_FD_BY_ID)")
