"""Every input a user can get wrong: a one-line error, the right exit code, nothing left behind.

The per-test fixture in conftest.py checks that no container state and no
process remains after each of these; the session fixture checks mounts,
cgroups and links.
"""

import os
import subprocess

import pytest
from carton_testlib import CARTON, have, leaks, snapshot


def expect_error(result, code, *words):
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("carton: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""


CASES = {
    "rootfs missing": (["/no/such/rootfs", "true"], 125, ["/no/such/rootfs", "no such directory"]),
    "rootfs not a directory": (["/etc/hostname", "true"], 125, ["not a directory"]),
    "command not in rootfs": (["{rootfs}", "/bin/bahs"], 127, ["/bin/bahs", "no such file"]),
    "command not in PATH": (["{rootfs}", "bahs"], 127, ["bahs", "$PATH"]),
    "command is a directory": (["{rootfs}", "/etc"], 126, ["/etc", "is a directory"]),
    "command not executable": (["{rootfs}", "/etc/passwd"], 126, ["/etc/passwd", "permission denied"]),
    "command empty": (["{rootfs}", ""], 125, ["empty"]),
    "no command": (["{rootfs}"], 125, ["requires a ROOTFS and a COMMAND"]),
    "volume relative host path": (["-v", "data:/data", "{rootfs}", "true"], 125, ["absolute"]),
    "volume missing host path": (["-v", "/no/such/dir:/data", "{rootfs}", "true"], 125,
                                 ["/no/such/dir", "does not exist"]),
    "volume without target": (["-v", "/tmp", "{rootfs}", "true"], 125, ["HOST:CONTAINER"]),
    "volume empty target": (["-v", "/tmp:", "{rootfs}", "true"], 125, ["HOST:CONTAINER"]),
    "volume too many parts": (["-v", "/tmp:/a:ro:x", "{rootfs}", "true"], 125, ["HOST:CONTAINER"]),
    "volume relative target": (["-v", "/tmp:data", "{rootfs}", "true"], 125, ["container path"]),
    "volume over root": (["-v", "/tmp:/", "{rootfs}", "true"], 125, ["/"]),
    "volume bad option": (["-v", "/tmp:/data:rx", "{rootfs}", "true"], 125, ["unknown option"]),
    "volume selinux": (["-v", "/tmp:/data:Z", "{rootfs}", "true"], 125, ["SELinux"]),
    "volume duplicate": (["-v", "/tmp:/d", "-v", "/var:/d", "{rootfs}", "true"], 125, ["duplicate"]),
    "unknown user": (["-u", "bob", "{rootfs}", "true"], 125, ["bob", "passwd"]),
    "unknown group": (["-u", "user:nogroupx", "{rootfs}", "true"], 125, ["nogroupx", "group"]),
    "empty group": (["-u", "user:", "{rootfs}", "true"], 125, ["invalid user"]),
    "env without name": (["-e", "=value", "{rootfs}", "true"], 125, ["=value"]),
    "env empty": (["-e", "", "{rootfs}", "true"], 125, ["environment variable"]),
    "env file missing": (["--env-file", "/no/such/file", "{rootfs}", "true"], 125, ["/no/such/file"]),
    "hostname too long": (["--hostname", "h" * 65, "{rootfs}", "true"], 125, ["longer than 64"]),
    "hostname invalid": (["--hostname", "under_score", "{rootfs}", "true"], 125, ["invalid hostname"]),
    "hostname leading dash": (["--hostname", "-x", "{rootfs}", "true"], 125, ["invalid hostname"]),
    "hostname empty label": (["--hostname", "a..b", "{rootfs}", "true"], 125, ["invalid hostname"]),
    "name invalid": (["--name", "no/slash", "{rootfs}", "true"], 125, ["invalid container name"]),
    "workdir relative": (["-w", "tmp", "{rootfs}", "true"], 125, ["absolute"]),
    "tmpfs relative": (["--tmpfs", "scratch", "{rootfs}", "true"], 125, ["absolute"]),
    "unknown flag": (["--no-such-flag", "{rootfs}", "true"], 125, ["unknown flag: --no-such-flag"]),
    "flag without value": (["{rootfs}", "true", "-e"], 127, []),  # -e here is the command's
    "missing flag value": (["-e"], 125, ["needs an argument"]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input(carton, rootfs, case):
    argv, code, words = CASES[case]
    argv = [a.replace("{rootfs}", rootfs) for a in argv]
    before = snapshot()
    r = carton("run", *argv)
    if case == "flag without value":
        assert r.returncode == 0  # `true -e` is fine: options end at ROOTFS
        return
    expect_error(r, code, *words)
    assert not leaks(before, snapshot())


def test_bad_input_leaves_the_rootfs_alone(carton, scratch_rootfs):
    """Checks on the host side come before anything is made: a bad volume adds no mount point."""
    r = carton("run", "-v", "/no/such/dir:/new-mount-point", scratch_rootfs, "true")
    assert r.returncode == 125
    assert not os.path.exists(os.path.join(scratch_rootfs, "new-mount-point"))


def test_failure_inside_setup_leaves_nothing(carton, scratch_rootfs, tmp_path):
    """A mount that fails half-way through setup (a file where a directory must go)."""
    open(os.path.join(scratch_rootfs, "blocker"), "w").close()
    data = tmp_path / "d"
    data.mkdir()
    before = snapshot()
    r = carton("run", "-v", f"{data}:/blocker", scratch_rootfs, "true")
    expect_error(r, 125, "/blocker")
    assert not leaks(before, snapshot())


@pytest.mark.skipif(not have("setpriv"), reason="needs setpriv (util-linux)")
def test_not_root(state_root, rootfs):
    r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                        CARTON, "--root", state_root, "run", rootfs, "true"],
                       capture_output=True, text=True, timeout=60)
    expect_error(r, 125, "root", "rootless")


def test_unknown_verb(carton):
    r = carton("frobnicate")
    expect_error(r, 125, "unknown command")


def test_help_and_version(carton):
    r = carton("run", "--help")
    assert r.returncode == 0 and "--volume" in r.stdout and "--explain" in r.stdout
    r = carton("--version")
    assert r.returncode == 0 and r.stdout.startswith("carton version ")
