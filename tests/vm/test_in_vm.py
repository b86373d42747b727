"""Each test here is one test of the guest (tests/v2 by default), run in a cgroup-v2-only VM.

The guest boots once per session (``vm_run`` in conftest.py); a test passes, fails, skips
or xfails as its guest test did, with the guest's failure text. The host's node id names
the guest test: ``test_in_vm[tests/v2/test_v2_guest.py:test_carton_runs_a_container]``.
"""

import pytest

pytestmark = pytest.mark.vm


def test_in_vm(guest_test, vm_run):
    outcome, text = vm_run.outcome(guest_test)
    if outcome in ("passed", "xpassed"):
        return
    if outcome == "skipped":
        pytest.skip(f"in the VM ({guest_test}): {text.removeprefix('Skipped: ')}")
    if outcome == "xfailed":
        pytest.xfail(f"in the VM ({guest_test}): {text}")
    pytest.fail(f"{guest_test} {outcome} in the VM:\n{text}", pytrace=False)
