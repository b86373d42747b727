"""OCI hooks: each kind runs at its point of the lifecycle, in the right namespaces, with the state.

One small shell script serves as every hook: it appends a line with the hook
kind, its mount namespace, an extra argument, an environment variable and
the state it read on stdin to a log file. The hooks directory is bound at
/run in the container, because ``startContainer`` hooks run after
pivot_root, so their path (and the log's) is the container's.
"""

import json
import os
import signal
import subprocess
import time

import pytest
from oci_bundle import PATH, alive, new_id, wait_until

LOOP = "trap 'exit 3' TERM; while :; do sleep 0.1; done"
KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
IN_CONTAINER = "/run"  # where the hooks directory is in the container

SCRIPT = """#!/bin/sh
# hook.sh LOG KIND [EXTRA]: append KIND|MNT-NAMESPACE|EXTRA|$HOOK_VAR|STATE to LOG
state=$(cat)
printf '%s|%s|%s|%s|%s\\n' "$2" "$(readlink /proc/self/ns/mnt)" "$3" "$HOOK_VAR" "$state" >> "$1"
"""


class Hooks:
    def __init__(self, directory):
        self.dir = directory
        directory.mkdir()
        self.script = directory / "hook.sh"
        self.script.write_text(SCRIPT)
        self.script.chmod(0o755)
        self.log = directory / "log"

    def entry(self, kind, extra=None, inside=False, **fields):
        """A hook entry that logs ``kind``; ``inside``: with the container's paths."""
        base = IN_CONTAINER if inside else str(self.dir)
        args = ["hook.sh", f"{base}/log", kind] + ([extra] if extra else [])
        entry = {"path": f"{base}/hook.sh", "args": args, "env": [PATH]}
        entry.update(fields)
        return entry

    def all_kinds(self):
        return {kind: [self.entry(kind, inside=(kind == "startContainer"))] for kind in KINDS}

    def lines(self):
        if not self.log.exists():
            return []
        result = []
        for line in self.log.read_text().splitlines():
            kind, mnt, extra, var, state = line.split("|", 4)
            result.append({"kind": kind, "mnt": mnt, "extra": extra, "var": var,
                           "state": json.loads(state)})
        return result

    def kinds(self):
        return [line["kind"] for line in self.lines()]


@pytest.fixture
def hooks(tmp_path):
    return Hooks(tmp_path / "hooks")


def hooked_bundle(oci, hooks, args, kinds):
    b = oci.bundle(args).bind(hooks.dir, IN_CONTAINER)
    b.config["hooks"] = kinds
    return b.write()


def test_every_kind_runs_in_order_with_the_state(oci, hooks):
    b = hooked_bundle(oci, hooks, ["sh", "-c", LOOP], hooks.all_kinds())
    b.config["annotations"] = {"org.example.hooked": "yes"}
    b.write()
    host_mnt = os.readlink("/proc/self/ns/mnt")

    cid = oci.created(b)
    pid = oci.state(cid)["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    assert container_mnt != host_mnt
    lines = hooks.lines()
    assert [line["kind"] for line in lines] == ["prestart", "createRuntime", "createContainer"]
    for line in lines:
        state = line["state"]
        assert state["id"] == cid
        assert state["bundle"] == b.path
        assert state["annotations"] == {"org.example.hooked": "yes"}
        assert state["ociVersion"].startswith("1.")
    for line in lines[:2]:  # in the runtime's namespaces, while the container is being made
        assert line["mnt"] == host_mnt
        assert line["state"]["status"] == "creating"
        assert line["state"]["pid"] == pid
    assert lines[2]["mnt"] == container_mnt  # createContainer: in the container's namespaces

    oci.check("start", cid)
    wait_until(lambda: len(hooks.lines()) == 5, what="the start hooks")
    lines = hooks.lines()
    assert sorted(hooks.kinds()[3:]) == ["poststart", "startContainer"]
    by_kind = {line["kind"]: line for line in lines}
    assert by_kind["startContainer"]["mnt"] == container_mnt
    assert by_kind["startContainer"]["state"]["id"] == cid
    poststart = by_kind["poststart"]
    assert poststart["mnt"] == host_mnt
    assert poststart["state"]["status"] == "running"
    assert poststart["state"]["pid"] == pid

    oci.check("kill", cid)
    oci.wait_status(cid, "stopped")
    assert len(hooks.lines()) == 5  # poststop waits for delete
    oci.check("delete", cid)
    last = hooks.lines()[-1]
    assert last["kind"] == "poststop"
    assert last["mnt"] == host_mnt
    assert last["state"]["id"] == cid and last["state"]["status"] == "stopped"
    assert last["state"]["bundle"] == b.path
    assert hooks.kinds() == ["prestart", "createRuntime", "createContainer"] + hooks.kinds()[3:5] + [
        "poststop"]


def test_poststop_runs_on_delete_force_of_a_running_container(oci, hooks):
    b = hooked_bundle(oci, hooks, ["sh", "-c", LOOP], {"poststop": [hooks.entry("poststop")]})
    cid = oci.started(b)
    oci.check("delete", "--force", cid)
    assert hooks.kinds() == ["poststop"]


def container_hook_states(oci, hooks):
    """The states a createContainer and a startContainer hook read, with no runtime hooks."""
    kinds = {"createContainer": [hooks.entry("createContainer")],
             "startContainer": [hooks.entry("startContainer", inside=True)]}
    b = hooked_bundle(oci, hooks, ["sh", "-c", LOOP], kinds)
    cid = oci.created(b)
    oci.check("start", cid)
    wait_until(lambda: len(hooks.lines()) == 2, what="the hooks")
    create, start = hooks.lines()
    assert (create["kind"], start["kind"]) == ("createContainer", "startContainer")
    return create["state"], start["state"]


def test_container_hooks_read_the_pid(oci, hooks):
    # runtime-spec state.md: pid is REQUIRED when the status is created or running.
    for state in container_hook_states(oci, hooks):
        assert state["pid"] != 0, state


def test_container_hooks_read_the_status(oci, hooks):
    create, start = container_hook_states(oci, hooks)
    # A container is "creating" until create has finished, "created" until the program runs.
    assert create["status"] == "creating"
    assert start["status"] == "created"


def test_poststart_runs_after_the_program_has_started(oci, hooks):
    slow = hooks.dir / "slow.sh"
    slow.write_text(f"#!/bin/sh\nsleep 0.5\nexec {IN_CONTAINER}/hook.sh \"$@\"\n")
    slow.chmod(0o755)
    start_hook = hooks.entry("startContainer", inside=True)
    start_hook["path"] = f"{IN_CONTAINER}/slow.sh"
    b = hooked_bundle(oci, hooks, ["sh", "-c", f"touch {IN_CONTAINER}/ran; {LOOP}"],
                      {"startContainer": [start_hook], "poststart": [hooks.entry("poststart")]})
    cid = oci.created(b)
    oci.check("start", cid)
    # runtime-spec: startContainer, then the program, then poststart, before `start` returns.
    assert (hooks.dir / "ran").exists()
    wait_until(lambda: len(hooks.lines()) == 2, what="the hooks")
    assert hooks.kinds() == ["startContainer", "poststart"]


def test_hook_env_and_args(oci, hooks):
    entry = hooks.entry("prestart", extra="an extra argument")
    entry["env"] = [PATH, "HOOK_VAR=from the config"]
    b = hooked_bundle(oci, hooks, ["true"], {"prestart": [entry],
                                             "poststart": [hooks.entry("poststart")]})
    cid = oci.created(b)
    line = hooks.lines()[0]
    assert line["kind"] == "prestart"
    assert line["extra"] == "an extra argument"
    assert line["var"] == "from the config"
    oci.check("start", cid)
    wait_until(lambda: len(hooks.lines()) == 2, what="poststart")
    assert hooks.lines()[1]["var"] == ""  # env is per hook; nothing leaks from carton


def test_several_hooks_of_a_kind_run_in_order(oci, hooks):
    kinds = {"createRuntime": [hooks.entry("createRuntime", extra=str(i)) for i in range(3)]}
    b = hooked_bundle(oci, hooks, ["true"], kinds)
    oci.created(b)
    assert [line["extra"] for line in hooks.lines()] == ["0", "1", "2"]


def assert_nothing_left(oci, cid, bundle):
    assert not os.path.exists(oci.state_dir(cid))
    assert not bundle.cgroups_left()


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_create_hook_fails_create(oci, hooks, kind):
    failing = {"path": "/bin/sh", "args": ["sh", "-c", "echo hook trouble >&2; exit 7"]}
    b = hooked_bundle(oci, hooks, ["true"], {kind: [failing],
                                             "poststop": [hooks.entry("poststop")]})
    cid, r = oci.create(b)
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r
    assert kind in lines[0] and "/bin/sh" in lines[0]
    assert "7" in lines[0]
    assert_nothing_left(oci, cid, b)


def test_a_hook_that_cannot_run(oci, hooks, tmp_path):
    missing = str(tmp_path / "no-such-hook")
    b = hooked_bundle(oci, hooks, ["true"], {"createRuntime": [{"path": missing}]})
    cid, r = oci.create(b)
    assert r.returncode == 1, r
    assert missing in r.stderr
    assert_nothing_left(oci, cid, b)


def test_a_hook_past_its_timeout_fails_create(oci, hooks):
    b = hooked_bundle(oci, hooks, ["true"],
                      {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}]})
    began = time.monotonic()
    cid, r = oci.create(b)
    assert time.monotonic() - began < 5
    assert r.returncode == 1, r
    assert "prestart" in r.stderr and "timed out" in r.stderr
    assert_nothing_left(oci, cid, b)


def test_a_failing_start_container_hook_stops_the_program(oci, hooks):
    failing = {"path": "/bin/false", "args": ["false"]}
    b = hooked_bundle(oci, hooks, ["sh", "-c", f"touch {IN_CONTAINER}/ran; {LOOP}"],
                      {"startContainer": [failing]})
    cid = oci.created(b)
    pid = oci.state(cid)["pid"]
    oci("start", cid)  # may or may not see the failure; the program must not run
    wait_until(lambda: not alive(pid), what="the init to give up")
    assert oci.status(cid) == "stopped"
    assert not (hooks.dir / "ran").exists()


def test_failing_poststart_and_poststop_hooks_only_warn(oci, hooks):
    failing = {"path": "/bin/false", "args": ["false"]}
    b = hooked_bundle(oci, hooks, ["sh", "-c", LOOP],
                      {"poststart": [failing, hooks.entry("poststart")],
                       "poststop": [failing, hooks.entry("poststop")]})
    cid = oci.created(b)
    r = oci("start", cid)
    assert r.returncode == 0, r
    assert "warning" in r.stderr and "poststart" in r.stderr
    assert oci.status(cid) == "running"
    oci.check("kill", cid)
    oci.wait_status(cid, "stopped")
    r = oci("delete", cid)
    assert r.returncode == 0, r
    assert "warning" in r.stderr and "poststop" in r.stderr
    assert not os.path.exists(oci.state_dir(cid))
    assert hooks.kinds() == ["poststart", "poststop"]  # the hooks after a failing one still run


def test_a_signal_while_the_container_is_made_waits_for_the_command(oci, tmp_path):
    """SIGTERM to ``carton run`` while a createRuntime hook runs is held until the command
    runs, then forwarded. The command here is ``sleep`` in no PID namespace of its own (not
    a PID 1, so SIGTERM's default action applies): it dies of it, and carton leaves with 143.
    Forwarded at once, the signal would have hit Carton's own init, before the command."""
    marker = tmp_path / "hook-is-running"
    b = oci.bundle(["sleep", "30"])
    b.linux["namespaces"] = [n for n in b.linux["namespaces"] if n["type"] != "pid"]
    b.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}; sleep 1"]}]}
    b.write()
    cid = new_id()
    oci.ids.append(cid)
    proc = subprocess.Popen(oci.carton.argv("run", "--bundle", b.path, cid),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(marker.exists, what="the hook to run")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert not os.path.exists(oci.state_dir(cid))
