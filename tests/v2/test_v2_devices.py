"""On cgroup v2 the device rules are an eBPF program attached to the container's cgroup.

Default containers get runc's (and docker's) rules: every device may be made (mknod), only
null, zero, full, random, urandom, tty, ptmx and the ptys may be opened. A config's
``linux.resources.devices`` adds to them; ``exec``'d processes, in the same cgroup, are held
to them too; ``update`` leaves them as they are, as runc's does.
"""

import os

from carton.cgroups import devices_bpf

CAP_MKNOD = 27
# /dev/kmsg: not one of the default devices, always there, and opening it for writing needs
# no capability (reading it may, with kernel.dmesg_restrict), so only the filter can refuse.
KMSG = {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o644, "uid": 0, "gid": 0}
WRITE_KMSG = "echo carton-v2-devices-test >/dev/kmsg && echo WRITE-OK"


def sh(script):
    return ["sh", "-c", script]


def test_default_rules_let_mknod_through_but_not_the_open(carton, rootfs):
    # The nodes are made in /dev, the runtime's tmpfs: the test's rootfs may sit on a nodev
    # mount (the VM's /tmp is one), where no device node opens, filter or not.
    # /dev/mem needs CAP_SYS_RAWIO as well, and the VM has no disk; /dev/kmsg only the filter refuses.
    r = carton("run", rootfs, "sh", "-c",
               "grep CapBnd /proc/self/status; mknod /dev/mem c 1 1 && echo MKNOD-OK;"
               " head -c1 /dev/mem >/dev/null || echo MEM-DENIED;"
               " mknod /dev/sda b 8 0 && echo MKNOD-OK; head -c1 /dev/sda >/dev/null || echo DISK-DENIED;"
               " mknod /dev/kmsg c 1 11 && echo MKNOD-OK; echo x >/dev/kmsg || echo KMSG-DENIED;"
               " echo x >/dev/null && head -c4 /dev/zero | wc -c")
    lines = r.stdout.splitlines()
    assert int(lines[0].split()[1], 16) & (1 << CAP_MKNOD), r.stdout  # docker keeps CAP_MKNOD
    expected = ["MKNOD-OK", "MEM-DENIED", "MKNOD-OK", "DISK-DENIED", "MKNOD-OK", "KMSG-DENIED", "4"]
    assert lines[1:] == expected, (r.stdout, r.stderr)
    assert r.stderr.count("Operation not permitted") == 3, r.stderr  # EPERM: the filter said no
    assert "not enforced" not in r.stderr  # no fallback (no CAP_MKNOD, nodev root) was needed


def test_a_config_rule_opens_a_device(oci):
    b = oci.bundle(sh(WRITE_KMSG))
    b.linux["devices"] = [KMSG]
    b.write()
    r = oci.run(b)
    assert "WRITE-OK" not in r.stdout and "Operation not permitted" in r.stderr, r
    b.linux["resources"]["devices"] = [{"allow": False, "access": "rwm"},
                                       {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "w"}]
    b.write()
    r = oci.run(b)
    assert r.ok and r.stdout.split() == ["WRITE-OK"], r


def test_exec_and_update_keep_the_filter(oci, cgroup_root):
    b = oci.bundle(["sleep", "60"])
    b.linux["devices"] = [KMSG]
    b.write()
    cid = oci.started(b)
    directory = cgroup_root + b.cgroups_path
    attached = devices_bpf.attached(directory)
    assert len(attached) == 1
    r = oci("exec", cid, "sh", "-c", WRITE_KMSG)
    assert "WRITE-OK" not in r.stdout and "Operation not permitted" in r.stderr, r
    oci.check("update", "--pids-limit", "20", cid)
    assert devices_bpf.attached(directory) == attached  # the same program, still alone
    with open(os.path.join(directory, "pids.max")) as f:
        assert f.read().strip() == "20"
