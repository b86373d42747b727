"""The same config.json, under Carton and under runc: the same capabilities, no_new_privs, seccomp.

The configs are the ones ``carton run`` makes (``apply_run_options`` on the
spec of ``run_spec``). runc runs with a state root in a temporary
directory, a container ID and a cgroup (``/carton-test-<random>``) of its
own, and is told to delete the container whatever happens.
"""

import secrets
import shutil
import subprocess

import pytest
from escape_helpers import SECURITY_FIELDS, security_lines

RUNC = shutil.which("runc")

pytestmark = pytest.mark.skipif(RUNC is None, reason="runc is not installed")

CASES = {
    "default": {},
    "non-root": {"user": "1000:1000"},
    "no-new-privileges": {"security_opts": ["no-new-privileges"]},
    "non-root, no-new-privileges": {"user": "1000:1000", "security_opts": ["no-new-privileges"]},
    "cap-drop NET_RAW": {"cap_drop": ["NET_RAW"]},
    "cap-drop ALL, cap-add CHOWN": {"cap_drop": ["ALL"], "cap_add": ["CHOWN"]},
    "cap-add SYS_ADMIN": {"cap_add": ["SYS_ADMIN"]},
    "seccomp=unconfined": {"security_opts": ["seccomp=unconfined"]},
    "privileged": {"privileged": True},
}


def run_runc(runner, config, tmp_path):
    config = dict(config, linux=dict(config["linux"],
                                     cgroupsPath=f"/carton-test-{secrets.token_hex(6)}"))
    bundle = runner.write_bundle(config)
    root = tmp_path / "runc-state"
    cid = f"carton-parity-{secrets.token_hex(4)}"
    out, err = tmp_path / f"{cid}.out", tmp_path / f"{cid}.err"
    try:
        with open(out, "w") as o, open(err, "w") as e:
            code = subprocess.run([RUNC, "--root", str(root), "run", "--bundle", bundle, cid],
                                  stdin=subprocess.DEVNULL, stdout=o, stderr=e, timeout=60).returncode
    finally:
        subprocess.run([RUNC, "--root", str(root), "delete", "--force", cid], capture_output=True)
    assert code == 0, f"runc failed: {err.read_text()}"
    return out.read_text()


@pytest.mark.parametrize("case", list(CASES))
def test_same_security_lines_as_runc(bundle_door, tmp_path, case):
    config = bundle_door.config(["cat", "/proc/self/status"], **CASES[case])
    r = bundle_door.run_config(config)
    assert r.ok, r
    carton_lines = security_lines(r.stdout)
    runc_lines = security_lines(run_runc(bundle_door, config, tmp_path))
    assert all(carton_lines[k] is not None for k in SECURITY_FIELDS), r
    assert carton_lines == runc_lines
