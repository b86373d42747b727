"""Bundles and ids the runc-compatible verbs must refuse: exit 1, one line saying why, nothing left.

"Nothing left" is checked for each case: no state directory under --root, no
cgroup at the bundle's cgroupsPath, no new mount under the test's
directories, and no process (conftest checks for child processes too).
"""

import json
import os
import secrets
import shutil

import pytest
from oci_bundle import PATH, mount_points, new_id

from carton.errors import EXIT_NOT_FOUND


class Watch:
    """What there is before a command, to compare with what there is after it."""

    def __init__(self, oci, *dirs):
        self.oci = oci
        self.dirs = tuple(str(d) for d in dirs) + (oci.rootfs,)
        self.entries = set(os.listdir(oci.root)) if os.path.isdir(oci.root) else set()
        self.mounts = self._mounts()

    def _mounts(self):
        return {p for p in mount_points() if p.startswith(self.dirs)}

    def assert_nothing_left(self, cid="", bundle=None):
        """No new state directory, cgroup, mount, or process naming ``cid`` (a leftover init)."""
        now = set(os.listdir(self.oci.root)) if os.path.isdir(self.oci.root) else set()
        assert now - self.entries == set(), "container state left under --root"
        if bundle is not None:
            assert not bundle.cgroups_left()
        assert self._mounts() == self.mounts
        if cid:
            assert not processes_naming(cid)


def processes_naming(word):
    """Live processes whose command line has ``word`` as an argument (a leftover init has)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
            with open(f"/proc/{entry}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if word in args and not zombie:
            found.append(int(entry))
    return found


def expect_error(r, *words, code=1):
    assert r.returncode == code, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r
    assert lines[0].startswith("carton: "), r
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert r.stdout == ""


def _set(path, value):
    def change(b):
        *parents, last = path.split(".")
        obj = b.config
        for key in parents:
            obj = obj[key]
        if value is _DELETE:
            del obj[last]
        else:
            obj[last] = value
    return change


_DELETE = object()


def _raw(text):
    def change(b):
        with open(b.config_path, "w") as f:
            f.write(text)
        return "raw"
    return change


def _no_config(b):
    os.unlink(b.config_path)
    return "raw"


def _mount(entry):
    return lambda b: b.config["mounts"].append(entry)


def _namespace(entry):
    return lambda b: b.linux["namespaces"].append(entry)


CASES = {
    "no config.json": (_no_config, ["config.json", "no such file"]),
    "not JSON": (_raw("not json"), ["cannot parse", "config.json", "line 1"]),
    "truncated JSON": (_raw('{"ociVersion": "1.2.0", '), ["cannot parse", "config.json", "line 1"]),
    "not an object": (_raw("[]"), ["expected a JSON object"]),
    "no root.path": (_set("root.path", _DELETE), ["root.path", "required"]),
    "root.path missing on disk": (_set("root.path", "/no/such/rootfs"),
                                  ["/no/such/rootfs", "does not exist"]),
    "ociVersion 2.0.0": (_set("ociVersion", "2.0.0"), ["ociVersion", "2.0.0"]),
    "no process.args": (_set("process.args", []), ["process.args"]),
    "relative process.cwd": (_set("process.cwd", "tmp"), ["process.cwd", "absolute"]),
    "relative mount destination": (_mount({"destination": "data", "type": "tmpfs",
                                           "source": "tmpfs"}), ["destination", "absolute"]),
    "unknown mount type": (_mount({"destination": "/run", "type": "nosuchfs", "source": "x"}),
                           ["nosuchfs"]),
    "unknown namespace type": (_namespace({"type": "bogus"}), ["bogus", "namespace"]),
    "duplicated namespace": (_namespace({"type": "pid"}), ["pid", "more than once"]),
    "namespace path missing": (lambda b: b.namespace("network", "/proc/999999999/ns/net"),
                               ["/proc/999999999/ns/net", "does not exist"]),
    "pid namespace path of another type": (lambda b: b.namespace("pid", "/proc/self/ns/uts"),
                                           ["pid namespace", "/proc/self/ns/uts", "setns"]),
    "network namespace path of another type": (
        lambda b: b.namespace("network", "/proc/self/ns/uts"),
        ["network namespace", "/proc/self/ns/uts", "setns"]),
    "unknown capability": (_set("process.capabilities.bounding", ["CAP_BOGUS"]), ["CAP_BOGUS"]),
    "unknown rlimit": (_set("process.rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
                       ["RLIMIT_BOGUS"]),
    "host sysctl": (_set("linux.sysctl", {"kernel.panic": "1"}), ["kernel.panic"]),
    "hostname without uts": (lambda b: b.namespace("uts", False), ["hostname", "uts"]),
    "apparmorProfile": (_set("process.apparmorProfile", "carton-test"),
                        ["apparmorProfile", "not available"]),
    "systemd cgroupsPath": (_set("linux.cgroupsPath", "system.slice:carton:test"), ["systemd"]),
    # Found only inside the container's init, after the cgroup was made:
    "bind source missing": (_mount({"destination": "/run", "type": "bind",
                                    "source": "/no/such/source", "options": ["rbind"]}),
                            ["/no/such/source"]),
    "mount over a file with a directory": (_mount({"destination": "/bin/sh", "type": "tmpfs",
                                                   "source": "tmpfs"}), ["/bin/sh"]),
    "device with a bad major": (_set("linux.devices", [{"path": "/dev/x", "type": "c",
                                                        "major": -1, "minor": 0}]), ["major"]),
}


def _case(name):
    return pytest.param(*CASES[name], id=name)


@pytest.mark.parametrize("change,words", [_case(name) for name in CASES])
def test_bad_bundle(oci, tmp_path, change, words):
    b = oci.bundle(["sh", "-c", "echo must not run"])
    watch = Watch(oci, tmp_path)
    if change(b) != "raw":
        b.write()
    cid, r = oci.create(b)
    expect_error(r, *words)
    watch.assert_nothing_left(cid, b)


@pytest.mark.parametrize("verb", ["create", "run"])
def test_bad_bundle_with_run_too(oci, tmp_path, verb):
    b = oci.bundle(["true"])
    b.config["mounts"].append({"destination": "/run", "type": "bind",
                               "source": "/no/such/source", "options": ["rbind"]})
    b.write()
    watch = Watch(oci, tmp_path)
    cid = new_id()
    oci.ids.append(cid)
    flags = ["-d"] if verb == "run" else []
    expect_error(oci(verb, *flags, "--bundle", b.path, cid), "/no/such/source")
    watch.assert_nothing_left(cid, b)


@pytest.mark.parametrize("flag", ["--pid-file", "--console-socket"])
def test_a_flag_that_fails_after_the_init_is_made(oci, tmp_path, flag):
    """The pid file is written, and the terminal sent, once the init exists: it must go again."""
    b = oci.bundle(["sh"])
    if flag == "--console-socket":
        b.process["terminal"] = True
        b.write()
    watch = Watch(oci, tmp_path)
    missing = str(tmp_path / "no-such-dir" / "file")
    cid, r = oci.create(b, flag, missing)
    expect_error(r, missing)
    watch.assert_nothing_left(cid, b)


def test_a_missing_command_fails_create_with_1(oci, tmp_path):
    b = oci.bundle(["/bin/no-such-command", "arg"])
    watch = Watch(oci, tmp_path)
    cid, r = oci.create(b)
    expect_error(r, "/bin/no-such-command")
    watch.assert_nothing_left(cid, b)


def test_a_missing_command_fails_create(oci, tmp_path):
    """What is right already: the error names the command, and nothing is left."""
    b = oci.bundle(["no-such-command"])
    watch = Watch(oci, tmp_path)
    cid, r = oci.create(b)
    assert r.returncode in (1, EXIT_NOT_FOUND), r
    assert len(r.stderr.splitlines()) == 1 and "no-such-command" in r.stderr, r
    watch.assert_nothing_left(cid, b)


@pytest.mark.parametrize("cid", ["a/b", "..", ".", "x y", "", "a\nb", "x" * 1025])
def test_invalid_ids(oci, tmp_path, cid):
    b = oci.bundle(["true"])
    watch = Watch(oci, tmp_path)
    _, r = oci.create(b, cid=cid)
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert "invalid container id" in r.stderr or "requires exactly 1 argument" in r.stderr
    watch.assert_nothing_left(bundle=b)


@pytest.mark.parametrize("verb", ["start", "kill", "state", "delete", "pause", "resume", "ps",
                                  "events", "update", "exec"])
def test_verbs_on_an_unknown_id(oci, verb):
    extra = {"exec": ["true"], "update": ["--pids-limit", "5"]}.get(verb, [])
    args = [verb, "no-such-container", *extra] if verb != "update" else [verb, *extra,
                                                                          "no-such-container"]
    expect_error(oci(*args), "no-such-container", "does not exist")


def test_an_id_that_exists(oci, tmp_path):
    first = oci.bundle(["sh", "-c", "sleep 100"])
    cid = oci.created(first)
    second = oci.bundle(["true"])
    watch = Watch(oci, tmp_path)
    _, r = oci.create(second, cid=cid)
    expect_error(r, cid, "exists")
    assert not second.cgroups_left()
    assert oci.state(cid)["bundle"] == first.path
    watch.assert_nothing_left(bundle=second)


def test_a_symlink_in_the_rootfs_cannot_send_mounts_to_the_host(oci, scratch_rootfs, tmp_path):
    host_dir = f"/tmp/carton-oci-{secrets.token_hex(4)}"
    os.mkdir(host_dir)
    try:
        os.symlink(host_dir, os.path.join(scratch_rootfs, "etc2"))
        data = tmp_path / "data"
        data.mkdir()
        (data / "file").write_text("volume\n")
        b = oci.bundle(["sh", "-c", "cat /etc2/b/file; touch /etc2/t/x; cat /proc/self/mountinfo"],
                       rootfs=scratch_rootfs)
        b.mount("/etc2/t", "tmpfs", "tmpfs", ["size=1m"])
        b.bind(data, "/etc2/b")
        watch = Watch(oci, tmp_path, host_dir, scratch_rootfs)
        r = oci.run(b)
        assert r.ok, r
        assert r.stdout.startswith("volume\n")
        # In the container the mounts are where the link points *inside* the root...
        points = {line.split()[4] for line in r.stdout.splitlines()[1:]}
        assert {f"{host_dir}/t", f"{host_dir}/b"} <= points
        assert os.path.isdir(os.path.join(scratch_rootfs, host_dir.lstrip("/"), "t"))
        # ...and on the host nothing appeared, mounted or made.
        assert os.listdir(host_dir) == []
        watch.assert_nothing_left()
        assert not (data / "x").exists()
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)


# -- --log FILE --log-format json|text -----------------------------------------------


def test_log_json_names_the_missing_command(oci, tmp_path):
    log = tmp_path / "carton.log"
    b = oci.bundle(["/bin/no-such-command"])
    cid = new_id()
    oci.ids.append(cid)
    r = oci("create", "--bundle", b.path, cid, global_args=("--log", str(log), "--log-format", "json"))
    assert r.returncode != 0, r
    lines = log.read_text().splitlines()
    assert lines, "nothing logged"
    last = json.loads(lines[-1])
    assert last["level"] == "error"
    assert "/bin/no-such-command" in last["msg"]
    assert "time" in last
    assert last["msg"] in r.stderr  # the same message on stderr


def test_log_json_of_a_bad_config(oci, tmp_path):
    log = tmp_path / "carton.log"
    b = oci.bundle(["true"])
    b.process["cwd"] = "relative"
    b.write()
    cid = new_id()
    r = oci("create", "--bundle", b.path, cid, global_args=("--log", str(log), "--log-format", "json"))
    expect_error(r, "process.cwd")
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "process.cwd" in last["msg"]


def test_log_text(oci, tmp_path):
    log = tmp_path / "carton.log"
    b = oci.bundle(["true"])
    b.mount("/run", "bind", "/no/such/source", ["rbind"])
    cid = new_id()
    oci.ids.append(cid)
    r = oci("create", "--bundle", b.path, cid, global_args=("--log", str(log), "--log-format", "text"))
    expect_error(r, "/no/such/source")
    line = log.read_text().splitlines()[-1]
    assert line.startswith('time="') and " level=error " in line
    assert 'msg="' in line and "/no/such/source" in line


def test_log_of_a_warning(oci, tmp_path):
    log = tmp_path / "carton.log"
    b = oci.bundle(["sh", "-c", "sleep 100"])
    b.config["hooks"] = {"poststart": [{"path": "/bin/false", "args": ["false"], "env": [PATH]}]}
    b.write()
    cid = oci.created(b)
    r = oci("start", cid, global_args=("--log", str(log), "--log-format", "json"))
    assert r.ok, r
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "warning" and "poststart" in last["msg"]
