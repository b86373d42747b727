"""A process started by ``carton exec`` is confined like the container's own."""

import json
import os
import subprocess

from carton_testlib import CARTON


def test_exec_gets_the_seccomp_filter_and_capabilities(rootfs, state_root):
    run = subprocess.Popen([CARTON, "--root", state_root, "run", "-i", "--name", "carton-test-execsec",
                            rootfs, "sh", "-c", "echo up; read x"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline() == "up\n"
        cid = os.readlink(os.path.join(state_root, ".names", "carton-test-execsec"))
        with open(os.path.join(state_root, cid, "state.json")) as f:
            assert json.load(f)["seccomp"]
        r = subprocess.run([CARTON, "--root", state_root, "exec", cid, "grep", "-E",
                            "^(Seccomp|CapEff):", "/proc/self/status"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        lines = dict(line.split(":\t") for line in r.stdout.splitlines())
        assert lines["Seccomp"] == "2"
        assert int(lines["CapEff"], 16) & ~0xa80425fb == 0
    finally:
        run.stdin.write("done\n")
        run.stdin.close()
        run.wait(timeout=30)
