"""containerd drives the runtime under test: ``ctr`` -> containerd -> containerd-shim-runc-v2 ->
``RUNTIME create/start/exec/ps/pause/resume/kill/delete``.

These are the acceptance tests for Carton as a runc replacement under containerd; with
CARTON_CLIENT_RUNTIME=/usr/sbin/runc they prove the harness. See README.md beside this file.
"""

import os
import re
import select
import subprocess
import time

from carton_testlib import ok, wait_for

NAMESPACE = "carton-test"
SLEEP = ("sleep", "1000")


def run_detached(containerd, cid, *command):
    ok(containerd.ctr(*containerd.run_argv(cid, *command, options=["-d"])))
    pid, status = containerd.tasks()[cid]
    assert status == "RUNNING"
    return pid


def status(containerd, cid):
    return containerd.tasks().get(cid, (None, None))[1]


def test_run_prints_output_and_removes_itself(containerd, ctr_ids):
    cid = ctr_ids("echo")
    done = ok(containerd.ctr(*containerd.run_argv(cid, "echo", "hi", options=["--rm"])))
    assert done.stdout == "hi\n"
    assert cid not in containerd.containers()
    assert cid not in containerd.runtime_state()


def test_exit_code_passes_through(containerd, ctr_ids):
    cid = ctr_ids("exit")
    done = containerd.ctr(*containerd.run_argv(cid, "sh", "-c", "exit 3", options=["--rm"]))
    assert done.returncode == 3, done.stderr


def test_image_config_reaches_the_process(containerd, ctr_ids):
    cid = ctr_ids("config")
    done = ok(containerd.ctr(*containerd.run_argv(cid, "sh", "-c", 'echo "$PATH"; pwd; id -u',
                                                  options=["--rm"])))
    assert done.stdout.split() == ["/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                   "/", "0"]


def test_run_with_terminal(containerd, ctr_ids, terminal):
    cid = ctr_ids("tty")
    script = "tty; echo ready; read line; echo got=$line; exit 5"
    t = terminal(containerd.ctr_argv(*containerd.run_argv(cid, "sh", "-c", script,
                                                          options=["--rm", "-t"])),
                 env=containerd.env)
    t.expect("ready")
    t.send("abc\r")
    t.expect("got=abc")
    assert t.finish() == 5, t.text
    assert re.search(r"^/dev/pts/\d+\r*\n", t.text, re.M), t.text


def test_exec_in_a_running_container(containerd, ctr_ids):
    cid = ctr_ids("exec")
    run_detached(containerd, cid, *SLEEP)
    done = ok(containerd.ctr("task", "exec", "--exec-id", "e1", cid, "echo", "inside"))
    assert done.stdout == "inside\n"
    # the exec joins the container's PID namespace: its PID 1 is the container's sleep
    done = ok(containerd.ctr("task", "exec", "--exec-id", "e2", cid, "cat", "/proc/1/cmdline"))
    assert done.stdout.split("\0")[:2] == list(SLEEP)
    done = containerd.ctr("task", "exec", "--exec-id", "e3", cid, "sh", "-c", "exit 4")
    assert done.returncode == 4, done.stderr


def test_exec_with_terminal(containerd, ctr_ids, terminal):
    cid = ctr_ids("exectty")
    run_detached(containerd, cid, *SLEEP)
    t = terminal(containerd.ctr_argv("task", "exec", "-t", "--exec-id", "t1", cid,
                                     "sh", "-c", "tty; exit 6"), env=containerd.env)
    assert t.finish() == 6, t.text
    assert re.search(r"^/dev/pts/\d+\r*\n", t.text, re.M), t.text


def test_ps_lists_the_container_processes(containerd, ctr_ids):
    cid = ctr_ids("ps")
    init = run_detached(containerd, cid, "sh", "-c", "sleep 1000 & sleep 1001 & wait")

    def pids():
        done = ok(containerd.ctr("task", "ps", cid))
        return [int(line.split()[0]) for line in done.stdout.splitlines()[1:] if line.strip()]

    listed = wait_for(lambda: (lambda p: p if len(p) == 3 else None)(pids()), "3 processes in ps")
    assert init in listed
    assert sorted(open(f"/proc/{p}/cmdline").read().split("\0")[1] for p in listed if p != init) == \
        ["1000", "1001"]


def test_pause_and_resume(containerd, ctr_ids, frozen):
    cid = ctr_ids("pause")
    pid = run_detached(containerd, cid, *SLEEP)
    ok(containerd.ctr("task", "pause", cid))
    assert status(containerd, cid) == "PAUSED"
    assert frozen(pid)
    ok(containerd.ctr("task", "resume", cid))
    assert status(containerd, cid) == "RUNNING"
    assert not frozen(pid)


def test_kill_delivers_the_signal(containerd, ctr_ids):
    """SIGTERM reaches a shell that traps it; its exit status reaches the foreground ``ctr run``."""
    cid = ctr_ids("term")
    script = 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done'
    proc = containerd.popen(*containerd.run_argv(cid, "sh", "-c", script, options=["--rm"]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready and proc.stdout.readline() == b"ready\n", proc.stderr.read1()
        ok(containerd.ctr("task", "kill", cid))
        assert proc.wait(timeout=15) == 42
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_kill_and_delete(containerd, ctr_ids, alive, cgroups):
    cid = ctr_ids("kill")
    pid = run_detached(containerd, cid, *SLEEP)
    # PID 1 has no default signal actions: busybox sleep ignores SIGTERM (correct, not a bug)
    ok(containerd.ctr("task", "kill", cid))
    time.sleep(0.3)
    assert status(containerd, cid) == "RUNNING"
    ok(containerd.ctr("task", "kill", "-s", "SIGKILL", cid))
    wait_for(lambda: status(containerd, cid) == "STOPPED", "the task to stop")
    assert not alive(pid)
    done = ok(containerd.ctr("task", "delete", cid))
    assert "137" in done.stdout + done.stderr
    assert cid not in containerd.tasks()
    assert cid not in containerd.runtime_state()
    assert not cgroups(f"{NAMESPACE}/{cid}")
    ok(containerd.ctr("container", "delete", cid))
    assert cid not in containerd.containers()


def test_runtime_error_reaches_the_user(containerd, ctr_ids):
    """containerd shows the last error line of the runtime's --log (log.json), not its stderr."""
    cid = ctr_ids("nocmd")
    done = containerd.ctr(*containerd.run_argv(cid, "/no/such/cmd", options=["--rm"]))
    assert done.returncode != 0
    assert "/no/such/cmd" in done.stderr, done.stderr
    assert cid not in containerd.runtime_state()
    assert not os.path.exists(f"/proc/{containerd.pid}/root/run/containerd/runc/{NAMESPACE}/{cid}")
