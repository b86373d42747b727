"""The host side of the VM tests: one guest boot per session, one host test per guest test.

``test_in_vm.py`` has a single test function, parametrized here (``pytest_generate_tests``)
over the node ids of the guest tests, which a ``pytest --collect-only`` of the guest paths
lists on the host (``CARTON_VM_TESTS``, default ``tests/v2``). The session fixture ``vm_run``
boots the guest once, for exactly the guest tests this session selected (``-k`` and node
ids on the host select guest tests too), and each host test then reports its guest test's
outcome, failure text and captured output included.

Environment (more in boot.py):
  CARTON_VM_TESTS="PATH ..."   what the guest runs (default: tests/v2 and the limit tests)
  CARTON_REQUIRE_VM=1          fail instead of skipping when QEMU, the kernel or busybox is missing
  CARTON_VM_ECHO=1             copy the guest's console to stderr as it runs
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import boot  # noqa: E402  (tests/ is not a package: boot.py is found through HERE)

# tests/v2 (the guest's own), and the cgroup tests of issue 4 that must hold on v2 too:
# limits, OOM, update, pause/resume and stats, through real containers.
DEFAULT_TESTS = ("tests/v2 tests/integration/test_run_limits.py "
                 "tests/integration/test_oci_update_events.py")
COLLECTING = "CARTON_VM_COLLECTING"  # set for the host's collect-only pytest
_collected = []  # the guest node ids, as collected on the host
_runs = []  # for the terminal summary


def pytest_configure(config):
    config.addinivalue_line("markers", "vm: runs in a QEMU guest with cgroup v2 only (deselect: -m 'not vm')")


def vm_required():
    return os.environ.get("CARTON_REQUIRE_VM") == "1"


def guest_paths():
    """``CARTON_VM_TESTS``, less tests/vm itself (a VM in the VM is not what anyone wants)."""
    paths = os.environ.get("CARTON_VM_TESTS", DEFAULT_TESTS).split()
    return [p for p in paths if not _in_here(p)]


def _in_here(path_or_nodeid):
    path = os.path.realpath(os.path.join(boot.REPO, path_or_nodeid.split("::")[0]))
    return path == HERE or path.startswith(HERE + os.sep)


# -- which guest tests there are ----------------------------------------------------------------


def collect_guest_tests(paths):
    """The node ids of the tests in ``paths``, as pytest collects them on the host.

    A file that fails to import is listed by its own path: run in the guest, its
    collection error is reported there and becomes that host test's failure.
    """
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *paths],
        cwd=boot.REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", COLLECTING: "1"})
    ids = [line for line in out.stdout.splitlines()
           if "::" in line and not line.startswith(" ") and not _in_here(line)]
    errors = [line.split()[1] for line in out.stdout.splitlines()
              if line.startswith("ERROR ") and len(line.split()) > 1]
    if not ids and not errors and out.returncode not in (0, 5):  # 5: no tests collected
        errors = paths
    return ids + [e.split("::")[0] for e in errors if e.split("::")[0] not in ids]


def pytest_generate_tests(metafunc):
    if "guest_test" not in metafunc.fixturenames:
        return
    if os.environ.get(COLLECTING) == "1":  # collect_guest_tests' own pytest: no recursion
        metafunc.parametrize("guest_test", [pytest.param("", id="nested", marks=pytest.mark.skip)])
        return
    if not guest_paths():
        metafunc.parametrize("guest_test", [pytest.param("", id="no-guest-tests", marks=pytest.mark.skip(
            reason="CARTON_VM_TESTS names no tests outside tests/vm"))])
        return
    try:
        boot.check()
    except boot.Unavailable as e:
        reason = f"the VM cannot boot here: {e}"
        mark = pytest.mark.skip(reason=reason) if not vm_required() else pytest.mark.vm
        metafunc.parametrize("guest_test", [pytest.param(str(e), id="vm-unavailable", marks=mark)])
        return
    ids = collect_guest_tests(guest_paths())
    _collected[:] = ids
    metafunc.parametrize("guest_test", ids, ids=[i.replace("::", ":") for i in ids])


# -- the guest run ------------------------------------------------------------------------------


class GuestResults:
    """The reports of one guest run, looked up by guest node id."""

    def __init__(self, run):
        self.run = run

    def outcome(self, nodeid):
        """``(outcome, text)`` for a guest test, with an explanation when it has no report."""
        report = self.run.reports.get(nodeid)
        if report is None:
            for other, r in self.run.reports.items():
                if r.get("when") == "collect" and (nodeid == other or nodeid.startswith(other + "::")
                                                   or nodeid.startswith(other.rstrip("/") + "/")):
                    return "error", f"collecting {other} failed in the guest:\n{r['longrepr']}"
            if self.run.problem:
                first = self.run.problem.splitlines()[0]
                return "error", f"the guest did not get to {nodeid}: {first} (console: {self.run.console})"
            return "error", (f"the guest did not run {nodeid} (its pytest exited with status "
                             f"{self.run.exit_status}); the end of its output:\n{self.pytest_log_tail()}")
        if report["outcome"] == "running":
            why = self.run.problem or (f"its pytest exited with status {self.run.exit_status}; the end "
                                       f"of its console:\n{self.run.console_tail()}")
            return "error", f"the guest stopped while running {nodeid}: {why}"
        return report["outcome"], report.get("longrepr", "")

    def pytest_log_tail(self, lines=30):
        try:
            with open(os.path.join(self.run.results, "pytest.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no pytest.log)"


@pytest.fixture(scope="session")
def vm_run(request, tmp_path_factory):
    """Boot the guest once and run every guest test this session selected; a ``GuestResults``."""
    unavailable = None
    try:
        boot.check()
    except boot.Unavailable as e:
        unavailable = f"the VM cannot boot here: {e}"
    if unavailable and vm_required():
        pytest.fail(f"{unavailable} (and CARTON_REQUIRE_VM=1)", pytrace=False)
    if unavailable:
        pytest.skip(unavailable)
    wanted = [item.callspec.params["guest_test"] for item in request.session.items
              if getattr(item, "callspec", None) and "guest_test" in item.callspec.params]
    # all of them: the paths themselves (as short as it gets); some: their node ids
    args = guest_paths() if sorted(wanted) == sorted(_collected) else wanted
    workdir = str(tmp_path_factory.mktemp("vm"))
    echo = sys.__stderr__ if os.environ.get("CARTON_VM_ECHO") == "1" else None
    try:
        run = boot.run(args, workdir, echo=echo)
    except boot.BootError as e:
        run, failure = None, str(e)
    if run is None:
        pytest.fail(failure, pytrace=False)
    _runs.append(run)
    return GuestResults(run)


def pytest_terminal_summary(terminalreporter):
    for run in _runs:
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings().items())
        terminalreporter.write_line(
            f"vm: guest kernel {run.status.get('kernel', '?')}: {timings}; "
            f"guest pytest exit status {run.exit_status}; console, JUnit XML and reports in {run.workdir}")
