"""On cgroup v2 no device cgroup enforces device rules yet: devices stay out of reach anyway."""

import os
import subprocess


def test_no_mknod_and_a_nodev_root(carton, scratch_rootfs):
    # A device node shipped in the rootfs (as an image could), for the host's first disk.
    os.mknod(os.path.join(scratch_rootfs, "disk"), 0o600 | 0o060000, os.makedev(8, 0))
    r = carton("run", scratch_rootfs, "sh", "-c",
               "grep CapBnd /proc/self/status; mknod /tmp/d b 8 0 && echo MKNOD-OK;"
               " head -c1 /disk >/dev/null 2>&1 && echo OPEN-OK; grep ' / ' /proc/mounts")
    assert "MKNOD-OK" not in r.stdout and "OPEN-OK" not in r.stdout, r.stdout
    capbnd = int(r.stdout.split()[1], 16)
    assert not capbnd & (1 << 27)  # CAP_MKNOD
    assert "nodev" in r.stdout.splitlines()[-1]
    assert subprocess.run(["true"]).returncode == 0
