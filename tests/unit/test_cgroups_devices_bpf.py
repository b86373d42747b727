"""cgroup v2 device rules: the v1 kernel's replay of the rules, and the eBPF program for it.

Pure logic: nothing is loaded here (tests/integration/test_device_filter.py loads and
attaches the programs on the real kernel, and compares them with the v1 devices cgroup).
The programs are run by ``run``, a small interpreter of the few instructions they use.
"""

import struct

import pytest

from carton.cgroups import devices_bpf, resources
from carton.cgroups.devices_bpf import DeviceRules, replay
from carton.linux import bpf

M, R, W = bpf.BPF_DEVCG_ACC_MKNOD, bpf.BPF_DEVCG_ACC_READ, bpf.BPF_DEVCG_ACC_WRITE
BLOCK, CHAR = bpf.BPF_DEVCG_DEV_BLOCK, bpf.BPF_DEVCG_DEV_CHAR
DENY_ALL, ALLOW_ALL = (False, "a *:* rwm"), (True, "a *:* rwm")


def run(insns, kind, major, minor, access):
    """Run a device program on ``struct bpf_cgroup_dev_ctx`` as the kernel would."""
    ctx = struct.pack("<III", access << 16 | kind, major, minor)
    reg = [0] * 11
    pc = 0
    for _ in range(10000):
        i = insns[pc]
        cls, op = i.code & 0x07, i.code & 0xF0
        pc += 1
        if cls == bpf.BPF_LDX:
            assert i.src == bpf.R1 and i.code == bpf.BPF_LDX | bpf.BPF_MEM | bpf.BPF_W
            reg[i.dst] = struct.unpack_from("<I", ctx, i.off)[0]
        elif cls == bpf.BPF_ALU:
            value = reg[i.src] if i.code & bpf.BPF_X else i.imm & 0xFFFFFFFF
            old = reg[i.dst] & 0xFFFFFFFF
            reg[i.dst] = {bpf.BPF_MOV: value, bpf.BPF_AND: old & value, bpf.BPF_RSH: old >> value}[op]
        elif op == bpf.BPF_EXIT:
            return reg[bpf.R0]
        elif op == bpf.BPF_JA:
            pc += i.off
        else:
            imm = i.imm & 0xFFFFFFFFFFFFFFFF  # sign-extended to 64 bits
            taken = {bpf.BPF_JEQ: reg[i.dst] == imm, bpf.BPF_JNE: reg[i.dst] != imm,
                     bpf.BPF_JSET: bool(reg[i.dst] & imm)}[op]
            if taken:
                pc += i.off
    raise AssertionError("the program did not end")


def decide(rules, kind, major, minor, access):
    return run(devices_bpf.program(replay(rules)), kind, major, minor, access)


# -- the replay ----------------------------------------------------------------------


def test_the_default_list_is_a_white_list_of_runcs_devices():
    state = replay(resources.check({}).devices)
    assert not state.default_allow
    assert state.exceptions == {
        ("c", None, None): M, ("b", None, None): M,
        ("c", 1, 3): M | R | W, ("c", 1, 5): M | R | W, ("c", 1, 7): M | R | W, ("c", 1, 8): M | R | W,
        ("c", 1, 9): M | R | W, ("c", 5, 0): M | R | W, ("c", 5, 2): M | R | W,
        ("c", 136, None): M | R | W, ("c", 10, 200): M | R | W,
    }


def test_a_rule_of_type_a_resets_and_privileged_allows_everything():
    state = replay(resources.check({"devices": [{"allow": True, "access": "rwm"}]}).devices)
    assert state.default_allow and state.exceptions == {}  # the default rules are no-ops there
    assert state.allows_everything()
    assert replay([ALLOW_ALL, (False, "c 1:3 w"), DENY_ALL]).exceptions == {}


def test_rules_against_the_default_only_remove_an_exact_exception():
    # No hole is punched in a wider exception: v1 keeps /dev/null allowed here.
    state = replay([DENY_ALL, (True, "c *:* rwm"), (False, "c 1:3 rwm")])
    assert state.exceptions == {("c", None, None): M | R | W}
    # An exact one loses the bits named, and goes when it has none left.
    assert replay([DENY_ALL, (True, "c 1:3 rwm"), (False, "c 1:3 w")]).exceptions == {("c", 1, 3): M | R}
    assert replay([DENY_ALL, (True, "c 1:3 rw"), (False, "c 1:3 rwm")]).exceptions == {}
    # Black list: an allow takes bits away from a deny exception.
    state = replay([ALLOW_ALL, (False, "b 8:* rwm"), (True, "b 8:* m")])
    assert state.default_allow and state.exceptions == {("b", 8, None): R | W}


def test_bits_for_the_same_device_add_up():
    assert replay([DENY_ALL, (True, "c 1:3 r"), (True, "c 1:3 w")]).exceptions == {("c", 1, 3): R | W}


# -- the program ---------------------------------------------------------------------


def test_the_program_listing():
    insns = devices_bpf.program(replay([DENY_ALL, (True, "c 1:3 rw"), (True, "b *:* m")]))
    assert devices_bpf.listing(insns) == [
        "  0: r2 = *(u32 *)(r1 +0)",
        "  1: w2 &= 0xffff",
        "  2: r3 = *(u32 *)(r1 +0)",
        "  3: w3 >>= 16",
        "  4: r4 = *(u32 *)(r1 +4)",
        "  5: r5 = *(u32 *)(r1 +8)",
        "  6: if r2 != 0x1 goto pc+3 <rule1>",      # b *:* m
        "  7: if r3 & 0xfffe goto pc+2 <rule1>",    # asks for more than m
        "  8: w0 = 1",
        "  9: exit",
        " 10: if r2 != 0x2 goto pc+5 <default>",    # c 1:3 rw
        " 11: if r4 != 0x1 goto pc+4 <default>",
        " 12: if r5 != 0x3 goto pc+3 <default>",
        " 13: if r3 & 0xfff9 goto pc+2 <default>",  # asks for more than rw
        " 14: w0 = 1",
        " 15: exit",
        " 16: w0 = 0",
        " 17: exit",
    ]


def test_the_instructions_are_encoded_as_struct_bpf_insn():
    assert bpf.load_u32(bpf.R4, bpf.R1, 4).encode() == bytes([0x61, 0x14, 4, 0, 0, 0, 0, 0])
    assert bpf.and32(bpf.R2, 0xFFFF).encode() == bytes([0x54, 0x02, 0, 0, 0xFF, 0xFF, 0, 0])
    assert bpf.mov32(bpf.R0, 1).encode() == bytes([0xB4, 0, 0, 0, 1, 0, 0, 0])
    assert bpf.mov32_reg(bpf.R1, bpf.R3).encode() == bytes([0xBC, 0x31, 0, 0, 0, 0, 0, 0])
    assert bpf.exit_insn().encode() == bytes([0x95, 0, 0, 0, 0, 0, 0, 0])
    jump = bpf.assemble([bpf.jump_if(bpf.BPF_JNE, bpf.R5, 229, "out"), bpf.mov32(bpf.R0, 1),
                         bpf.Label("out"), bpf.exit_insn()])[0]
    assert jump.encode() == bytes([0x55, 0x05, 1, 0, 229, 0, 0, 0])
    assert len(bpf.encode(devices_bpf.program(replay(resources.check({}).devices)))) % 8 == 0


def test_with_no_rules_at_all_everything_is_denied():
    insns = devices_bpf.program(DeviceRules(default_allow=False))
    for kind in (BLOCK, CHAR):
        assert run(insns, kind, 1, 3, R) == 0
    assert run(devices_bpf.program(DeviceRules(default_allow=True)), CHAR, 1, 3, R | W) == 1


def test_the_default_rules():
    rules = resources.check({}).devices
    assert decide(rules, CHAR, 1, 3, R | W) == 1      # /dev/null
    assert decide(rules, CHAR, 136, 7, R | W) == 1    # /dev/pts/7
    assert decide(rules, CHAR, 1, 1, M) == 1          # mknod of /dev/mem ...
    assert decide(rules, CHAR, 1, 1, R) == 0          # ... but not opening it
    assert decide(rules, BLOCK, 8, 0, M) == 1
    assert decide(rules, BLOCK, 8, 0, R) == 0
    assert decide(rules, BLOCK, 1, 3, R) == 0         # the type matters
    assert decide(rules, CHAR, 10, 229, R | W) == 0   # /dev/fuse: not by default ...
    spec = {"devices": [{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}
    assert decide(resources.check(spec).devices, CHAR, 10, 229, R | W) == 1  # ... but when allowed


def test_every_bit_asked_for_must_be_in_one_allow_exception():
    rules = [DENY_ALL, (True, "c 1:* r"), (True, "c *:5 w")]
    assert decide(rules, CHAR, 1, 5, R) == 1
    assert decide(rules, CHAR, 1, 5, W) == 1
    assert decide(rules, CHAR, 1, 5, R | W) == 0  # no one exception holds both (v1's match_exception)


def test_any_bit_asked_for_in_a_deny_exception_denies():
    rules = [ALLOW_ALL, (False, "c 1:5 w"), (False, "b *:* m")]
    assert decide(rules, CHAR, 1, 5, R) == 1
    assert decide(rules, CHAR, 1, 5, R | W) == 0  # partly denied is denied (v1's match_exception_partial)
    assert decide(rules, CHAR, 1, 3, R | W) == 1
    assert decide(rules, BLOCK, 8, 0, M) == 0
    assert decide(rules, BLOCK, 8, 0, R) == 1


def test_no_hole_in_a_wider_exception():
    rules = [DENY_ALL, (True, "c *:* rwm"), (False, "c 1:3 rwm")]
    assert decide(rules, CHAR, 1, 3, R | W) == 1  # as on v1 (the last matching rule would deny)


def test_numbers_no_device_can_have_are_left_out():
    insns = devices_bpf.program(replay([DENY_ALL, (True, f"c {2**31}:0 rwm"), (True, "c 1:3 rwm")]))
    assert [i.imm for i in insns if i.dst == bpf.R4 and i.target] == [1]  # only c 1:3 compares a major
    assert run(insns, CHAR, 1, 3, R) == 1
    with pytest.raises(Exception, match="device number"):
        resources.check({"devices": [{"allow": True, "type": "c", "major": 2**32, "access": "r"}]})
