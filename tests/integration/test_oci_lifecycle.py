"""The runc-compatible verbs, as containerd and podman drive them: create, start, state, kill, delete...

Every container is made from a bundle (``oci_bundle.py``) with a cgroupsPath
of its own, and is deleted with ``--force`` at the end of its test, whatever
happened.
"""

import json
import os
import signal
import socket
import time

import pytest
from oci_bundle import alive, cmdline, new_id, wait_until

# PID 1 of a PID namespace gets only the signals it has a handler for: this one handles TERM.
LOOP = "trap 'exit 3' TERM; while :; do sleep 0.1; done"


def read(path):
    with open(path) as f:
        return f.read()


def procs(bundle):
    return [int(p) for p in read(os.path.join(bundle.cgroup_dir("pids"), "cgroup.procs")).split()]


# -- the state machine --------------------------------------------------------------


def test_create_start_kill_delete(oci, shared, tmp_path):
    b = oci.bundle(["sh", "-c", f"touch /tmp/started; {LOOP}"]).bind(shared, "/tmp")
    pid_file = tmp_path / "init.pid"
    cid = oci.created(b, "--pid-file", str(pid_file))

    state = oci.state(cid)
    assert state["id"] == cid
    assert state["status"] == "created"
    assert state["bundle"] == b.path
    pid = state["pid"]
    assert pid > 0 and alive(pid)
    assert read(pid_file).strip() == str(pid)
    assert pid in procs(b)
    # The init waits for `start`: it is still carton's process, and the command has not run.
    assert "create" in cmdline(pid)
    time.sleep(0.2)
    assert not (shared / "started").exists()
    assert os.path.exists(os.path.join(oci.state_dir(cid), "exec.fifo"))

    oci.check("start", cid)
    wait_until(lambda: (shared / "started").exists(), what="the command to run")
    assert oci.status(cid) == "running"
    assert cmdline(pid)[:2] == ["sh", "-c"]
    assert oci.state(cid)["pid"] == pid

    again = oci("start", cid)
    assert again.returncode == 1 and "cannot start" in again.stderr, again

    refused = oci("delete", cid)
    assert refused.returncode == 1, refused
    assert "running" in refused.stderr
    assert os.path.isdir(oci.state_dir(cid)) and alive(pid)

    oci.check("kill", cid)  # SIGTERM by default; the trap exits
    oci.wait_status(cid, "stopped")
    assert not alive(pid)

    oci.check("delete", cid)
    assert not os.path.exists(oci.state_dir(cid))
    assert not b.cgroups_left()
    assert not os.path.exists(b.cgroup_dir("pids"))
    gone = oci("state", cid)
    assert gone.returncode == 1 and "does not exist" in gone.stderr, gone


def test_delete_force_removes_a_running_container(oci):
    b = oci.bundle(["sh", "-c", "sleep 100 & " + LOOP])
    cid = oci.started(b)
    pid = oci.state(cid)["pid"]
    wait_until(lambda: len(procs(b)) >= 2, what="the background sleep")
    oci.check("delete", "--force", cid)
    wait_until(lambda: not alive(pid), what="the init to die")
    assert not os.path.exists(oci.state_dir(cid))
    assert not b.cgroups_left()


def test_delete_a_created_container_needs_no_force(oci, shared):
    b = oci.bundle(["sh", "-c", "touch /tmp/started"]).bind(shared, "/tmp")
    cid = oci.created(b)
    pid = oci.state(cid)["pid"]
    oci.check("delete", cid)
    wait_until(lambda: not alive(pid), what="the init to die")
    assert not os.path.exists(oci.state_dir(cid))
    assert not b.cgroups_left()
    assert not (shared / "started").exists()  # the command never ran


def test_run_detached_then_kill_and_delete(oci, shared):
    b = oci.bundle(["sh", "-c", f"touch /tmp/started; {LOOP}"]).bind(shared, "/tmp")
    cid = new_id()
    oci.ids.append(cid)
    oci.check("run", "-d", "--bundle", b.path, cid)
    wait_until(lambda: (shared / "started").exists(), what="the command to run")
    assert oci.status(cid) == "running"
    oci.check("kill", cid, "KILL")
    oci.wait_status(cid, "stopped")
    oci.check("delete", cid)
    assert not os.path.exists(oci.state_dir(cid))
    assert not b.cgroups_left()


def test_foreground_run_returns_the_exit_code_and_leaves_nothing(oci):
    b = oci.bundle(["sh", "-c", "echo out; echo err >&2; exit 7"])
    cid = new_id()
    r = oci.run(b, cid=cid)
    assert r.returncode == 7, r
    assert r.stdout == "out\n"
    assert "err" in r.stderr
    assert not os.path.exists(oci.state_dir(cid))
    assert not b.cgroups_left()


def test_the_same_id_twice(oci):
    b = oci.bundle(["sh", "-c", LOOP])
    cid = oci.created(b)
    other = oci.bundle(["true"])
    _, r = oci.create(other, cid=cid)
    assert r.returncode == 1, r
    assert "exists" in r.stderr
    assert not other.cgroups_left()
    assert oci.state(cid)["status"] == "created"  # the first one is untouched
    oci.check("delete", "--force", cid)
    # Deleted, the id is free again.
    oci.created(other, cid=cid)
    assert oci.state(cid)["bundle"] == other.path


def test_delete_of_a_missing_container(oci):
    assert oci("delete", "--force", "no-such-container").returncode == 0
    r = oci("delete", "no-such-container")
    assert r.returncode == 1, r
    assert "does not exist" in r.stderr


# -- list, ps, pause, kill, events, update ----------------------------------------------


def test_list(oci):
    b1, b2 = oci.bundle(["sh", "-c", LOOP]), oci.bundle(["sh", "-c", LOOP])
    first = oci.created(b1)
    second = oci.started(b2)
    pids = {first: oci.state(first)["pid"], second: oci.state(second)["pid"]}

    table = oci.check("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[first][1:4] == [str(pids[first]), "created", b1.path]
    assert rows[second][1:4] == [str(pids[second]), "running", b2.path]

    listed = {s["id"]: s for s in json.loads(oci.check("list", "--format", "json").stdout)}
    assert listed[first]["status"] == "created" and listed[first]["pid"] == pids[first]
    assert listed[second]["status"] == "running" and listed[second]["bundle"] == b2.path

    quiet = oci.check("list", "-q").stdout.split()
    assert set(quiet) >= {first, second}

    bad = oci("list", "--format", "yaml")
    assert bad.returncode == 1


def test_ps(oci):
    b = oci.bundle(["sh", "-c", "sleep 100 & " + LOOP])
    cid = oci.started(b)
    pid = oci.state(cid)["pid"]
    wait_until(lambda: len(procs(b)) >= 2, what="the background sleep")
    sleeper = next(p for p in procs(b) if cmdline(p) == ["sleep", "100"])
    pids = json.loads(oci.check("ps", "--format", "json", cid).stdout)
    assert {pid, sleeper} <= set(pids)

    table = oci.check("ps", cid).stdout.splitlines()
    header = table[0].split()
    assert "PID" in header
    column = header.index("PID")
    shown = {int(line.split()[column]): line for line in table[1:]}
    assert {pid, sleeper} <= set(shown)
    assert "sleep 100" in shown[sleeper]
    assert os.getpid() not in shown  # only the container's processes


def test_pause_and_resume(oci):
    b = oci.bundle(["sh", "-c", LOOP])
    cid = oci.started(b)
    oci.check("pause", cid)
    assert oci.status(cid) == "paused"
    assert read(os.path.join(b.cgroup_dir("freezer"), "freezer.state")).strip() == "FROZEN"
    assert oci("pause", cid).returncode == 1  # not running

    oci.check("resume", cid)
    assert oci.status(cid) == "running"
    assert read(os.path.join(b.cgroup_dir("freezer"), "freezer.state")).strip() == "THAWED"
    assert oci("resume", cid).returncode == 1  # not paused

    oci.check("kill", cid, "KILL")
    oci.wait_status(cid, "stopped")
    for verb in ("pause", "resume"):
        r = oci(verb, cid)
        assert r.returncode == 1, r
        assert "not" in r.stderr


def test_delete_force_of_a_paused_container(oci):
    b = oci.bundle(["sh", "-c", LOOP])
    cid = oci.started(b)
    oci.check("pause", cid)
    refused = oci("delete", cid)
    assert refused.returncode == 1, refused
    oci.check("delete", "--force", cid)
    assert not os.path.exists(oci.state_dir(cid))
    assert not b.cgroups_left()


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9", "sigterm", "TERM", "15"])
def test_kill_takes_signal_names_and_numbers(oci, sig):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    oci.check("kill", cid, sig)
    oci.wait_status(cid, "stopped")


def test_kill_an_unknown_signal(oci):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    for sig in ("NOSUCHSIG", "SIGFOO", "999", "-1"):
        r = oci("kill", cid, sig)
        assert r.returncode == 1, r
        assert r.stderr.count("\n") == 1
    assert oci.status(cid) == "running"


def test_kill_all_reaches_every_process(oci, shared):
    # USR1 kills the sleeps; PID 1 (sh, with no handler for it) does not even see it.
    b = oci.bundle(["sh", "-c", "sleep 100 & sleep 101 & wait; touch /tmp/waited; exec sleep 100"])
    b.bind(shared, "/tmp")
    cid = oci.started(b)
    pid = oci.state(cid)["pid"]
    wait_until(lambda: len(procs(b)) == 3, what="both sleeps")
    oci.check("kill", "--all", cid, "USR1")
    wait_until(lambda: (shared / "waited").exists(), what="the sleeps to be killed")
    assert oci.status(cid) == "running"
    wait_until(lambda: procs(b) == [pid], what="only the init to be left")
    oci.check("kill", "-a", cid, "KILL")
    oci.wait_status(cid, "stopped")


def test_kill_a_stopped_container(oci):
    cid = oci.started(oci.bundle(["true"]))
    oci.wait_status(cid, "stopped")
    r = oci("kill", cid, "KILL")
    assert r.returncode == 1, r


def test_events_stats(oci):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    r = oci.check("events", "--stats", cid)
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r
    event = json.loads(lines[0])
    assert event["type"] == "stats" and event["id"] == cid
    assert event["data"]["pids"]["current"] >= 1


def test_update_pids_limit(oci):
    b = oci.bundle(["sh", "-c", LOOP])
    cid = oci.started(b)
    oci.check("update", "--pids-limit", "5", cid)
    assert read(os.path.join(b.cgroup_dir("pids"), "pids.max")).strip() == "5"
    r = oci("update", "--pids-limit", "many", cid)
    assert r.returncode == 1, r


# -- verbs without a container ---------------------------------------------------------


def test_features(oci):
    features = json.loads(oci.check("features").stdout)
    assert features["ociVersionMin"].startswith("1.")
    assert set(features["hooks"]) >= {"prestart", "createRuntime", "createContainer",
                                      "startContainer", "poststart", "poststop"}
    assert "CAP_SYS_ADMIN" in features["linux"]["capabilities"]
    assert "rbind" in features["mountOptions"]


def test_version(oci):
    r = oci.check("--version")
    assert r.stdout.startswith("carton version ")
    assert "spec: 1." in r.stdout


def test_spec_writes_config_and_does_not_overwrite(oci, tmp_path):
    bundle = tmp_path / "new-bundle"
    bundle.mkdir()
    oci.check("spec", "--bundle", str(bundle))
    config = json.loads((bundle / "config.json").read_text())
    assert config["ociVersion"].startswith("1.")
    assert config["process"]["args"] == ["sh"]
    assert config["root"]["path"] == "rootfs"
    (bundle / "config.json").write_text("{}")
    r = oci("spec", "--bundle", str(bundle))
    assert r.returncode == 1, r
    assert "exists" in r.stderr
    assert (bundle / "config.json").read_text() == "{}"


# -- exec -------------------------------------------------------------------------------


def test_exec_output_and_exit_code(oci):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    r = oci.check("exec", cid, "echo", "hi")
    assert r.stdout == "hi\n"
    assert oci("exec", cid, "sh", "-c", "exit 4").returncode == 4
    missing = oci("exec", cid, "no-such-command")
    assert missing.returncode != 0
    assert "no-such-command" in missing.stderr


def test_exec_process_file(oci, tmp_path):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    process = {"args": ["sh", "-c", "echo $FOO; pwd; id -u; id -g; echo $PATH"],
               "env": ["FOO=from-json", "PATH=/bin:/usr/bin"], "cwd": "/home/user",
               "user": {"uid": 1000, "gid": 100}, "terminal": False}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    r = oci.check("exec", "--process", str(path), cid)
    assert r.stdout.split() == ["from-json", "/home/user", "1000", "100", "/bin:/usr/bin"]


def test_exec_detached_with_pid_file(oci, tmp_path):
    b = oci.bundle(["sh", "-c", LOOP])
    cid = oci.started(b)
    init = oci.state(cid)["pid"]
    pid_file = tmp_path / "exec.pid"
    oci.check("exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "100")
    pid = int(read(pid_file))
    assert pid != init and alive(pid)
    assert cmdline(pid) == ["sleep", "100"]
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    assert pid in procs(b)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), what="the exec'd process to die")


def test_exec_joins_the_containers_namespaces(oci, shared):
    b = oci.bundle(["sh", "-c", f"touch /tmp/from-init; {LOOP}"]).bind(shared, "/tmp")
    cid = oci.started(b)
    init = oci.state(cid)["pid"]
    wait_until(lambda: (shared / "from-init").exists(), what="the command to run")
    out = oci.check("exec", cid, "sh", "-c",
                    "hostname; ls /tmp; for n in mnt pid uts ipc net cgroup; do "
                    "readlink /proc/self/ns/$n; done").stdout.split()
    assert out[0] == "carton"  # the template's hostname
    assert "from-init" in out[1:-6]
    for link in out[-6:]:
        kind = link.split(":")[0]
        assert link == os.readlink(f"/proc/{init}/ns/{kind}"), kind
    ps = oci.check("exec", cid, "ps", "-o", "pid,args").stdout.splitlines()
    first = ps[1].split(None, 1)
    assert first[0] == "1" and first[1].startswith("sh -c touch /tmp/from-init")


def test_exec_env_cwd_and_user(oci):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    r = oci.check("exec", "-e", "FOO=bar", "--cwd", "/tmp", cid, "sh", "-c", "echo $FOO; pwd")
    assert r.stdout.split() == ["bar", "/tmp"]
    r = oci.check("exec", "-u", "1000:1000", cid, "sh", "-c", "id -u; id -g")
    assert r.stdout.split() == ["1000", "1000"]
    r = oci.check("exec", "-u", "1000:1000", cid, "sh", "-c", "grep -E '^(Uid|Gid):' /proc/self/status")
    assert r.stdout.split() == ["Uid:"] + ["1000"] * 4 + ["Gid:"] + ["1000"] * 4


def test_exec_into_a_stopped_container(oci):
    cid = oci.started(oci.bundle(["true"]))
    oci.wait_status(cid, "stopped")
    r = oci("exec", cid, "echo", "hi")
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert "stopped" in r.stderr or "not running" in r.stderr


# -- the console socket ---------------------------------------------------------------


def test_console_socket_receives_the_terminal(oci, tmp_path):
    b = oci.bundle(["sh", "-c", "tty; exec sleep 100"])
    b.process["terminal"] = True
    b.write()
    path = str(tmp_path / "console.sock")
    master = None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        server.settimeout(10)
        cid = oci.created(b, "--console-socket", path)
        conn, _ = server.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    try:
        assert len(fds) == 1
        master = fds[0]
        assert os.isatty(master)
        oci.check("start", cid)
        seen = b""
        deadline = time.monotonic() + 10
        while b"/dev/pts/0" not in seen and time.monotonic() < deadline:
            os.set_blocking(master, False)
            try:
                seen += os.read(master, 1024)
            except BlockingIOError:
                time.sleep(0.02)
        assert b"/dev/pts/0" in seen, seen
    finally:
        if master is not None:
            os.close(master)


def test_a_terminal_needs_a_console_socket(oci):
    b = oci.bundle(["sh"])
    b.process["terminal"] = True
    b.write()
    cid, r = oci.create(b)
    assert r.returncode == 1, r
    assert "console-socket" in r.stderr
    assert not os.path.exists(oci.state_dir(cid))
    assert not b.cgroups_left()
