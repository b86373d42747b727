"""podman drives the runtime under test: ``podman`` -> conmon -> ``RUNTIME create/start/exec/
pause/resume/kill/delete`` (no global flags; state in the runtime's default --root).

These are the acceptance tests for Carton as a runc replacement under podman; with
CARTON_CLIENT_RUNTIME=/usr/sbin/runc they prove the harness. See README.md beside this file.
Every container gets a name from ``podman_names``, so it is removed even if the test fails.
"""

import re
import time

from carton_testlib import ok, wait_for

IMAGE = "docker.io/library/busybox:latest"


def inspect(podman, name, template):
    return ok(podman("inspect", "-f", template, name)).stdout.strip()


def run_detached(podman, name, *command):
    ok(podman("run", "-d", "--name", name, IMAGE, *command))
    assert podman.status(name) == "running"
    return int(inspect(podman, name, "{{.State.Pid}}"))


def test_run_prints_output_and_removes_itself(podman, podman_names):
    name = podman_names("echo")
    done = ok(podman("run", "--rm", "--name", name, IMAGE, "echo", "hi"))
    assert done.stdout == "hi\n"
    assert name not in podman.names()


def test_exit_code_passes_through(podman, podman_names):
    done = podman("run", "--rm", "--name", podman_names("exit"), IMAGE, "sh", "-c", "exit 3")
    assert done.returncode == 3, done.stderr


def test_run_with_terminal(podman, podman_names, terminal):
    script = "tty; echo ready; read line; echo got=$line; exit 5"
    t = terminal(podman.argv("run", "--rm", "-it", "--name", podman_names("tty"), IMAGE,
                             "sh", "-c", script), env=podman.env)
    t.expect("ready")
    t.send("abc\r")
    t.expect("got=abc")
    assert t.finish() == 5, t.text
    assert re.search(r"^/dev/pts/\d+\r*\n", t.text, re.M), t.text


def test_exec_in_a_running_container(podman, podman_names):
    name = podman_names("exec")
    run_detached(podman, name, "sleep", "1000")
    assert ok(podman("exec", name, "echo", "inside")).stdout == "inside\n"
    # the exec joins the container's PID namespace: its PID 1 is the container's sleep
    done = ok(podman("exec", name, "cat", "/proc/1/cmdline"))
    assert done.stdout.split("\0")[:2] == ["sleep", "1000"]
    done = podman("exec", name, "sh", "-c", "exit 4")
    assert done.returncode == 4, done.stderr


def test_exec_with_terminal(podman, podman_names, terminal):
    name = podman_names("exectty")
    run_detached(podman, name, "sleep", "1000")
    t = terminal(podman.argv("exec", "-t", name, "sh", "-c", "tty; exit 6"), env=podman.env)
    assert t.finish() == 6, t.text
    assert re.search(r"^/dev/pts/\d+\r*\n", t.text, re.M), t.text


def test_stop_escalates_to_sigkill_and_rm(podman, podman_names, alive):
    """busybox sleep as PID 1 ignores SIGTERM (correct), so ``stop -t 2`` ends with SIGKILL."""
    name = podman_names("stop")
    pid = run_detached(podman, name, "sleep", "1000")
    started = time.monotonic()
    ok(podman("stop", "-t", "2", name))
    assert 1.5 < time.monotonic() - started < 10
    assert not alive(pid)
    assert podman.status(name) == "exited"
    assert inspect(podman, name, "{{.State.ExitCode}}") == "137"
    ok(podman("rm", name))
    assert name not in podman.names()


def test_stop_delivers_sigterm(podman, podman_names):
    name = podman_names("term")
    ok(podman("run", "-d", "--name", name, IMAGE,
              "sh", "-c", 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done'))
    wait_for(lambda: "ready" in podman("logs", name).stdout, "the trap to be set")
    started = time.monotonic()
    ok(podman("stop", "-t", "10", name))
    assert time.monotonic() - started < 5
    assert inspect(podman, name, "{{.State.ExitCode}}") == "42"


def test_pause_and_unpause(podman, podman_names, frozen):
    name = podman_names("pause")
    pid = run_detached(podman, name, "sleep", "1000")
    ok(podman("pause", name))
    assert podman.status(name) == "paused"
    assert frozen(pid)
    ok(podman("unpause", name))
    assert podman.status(name) == "running"
    assert not frozen(pid)


def test_runtime_error_reaches_the_user(podman, podman_names):
    """podman shows the runtime's stderr when create fails (and exits 127 for a missing command)."""
    done = podman("run", "--rm", "--name", podman_names("nocmd"), IMAGE, "/no/such/cmd")
    assert done.returncode == 127, done.stderr
    assert "/no/such/cmd" in done.stderr
