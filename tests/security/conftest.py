"""Fixtures of the escape tests: a root filesystem with the ``escape`` helper, and the runners.

Shared code lives in escape_helpers.py (a conftest cannot be imported safely:
every test directory has one).
"""

import os
import shutil

import pytest
from escape_helpers import HELPER_IN_ROOTFS, Runner, build_helper

from carton.rootfs import busybox


@pytest.fixture(scope="session")
def helper_binary(tmp_path_factory):
    """The compiled ``escape`` helper on the host, or a skip saying why it could not be built."""
    try:
        return build_helper(str(tmp_path_factory.mktemp("escape-helper")))
    except RuntimeError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def escape_rootfs(tmp_path_factory):
    """A busybox root filesystem of these tests' own, with the helper in /usr/local/bin when it
    can be built (tests that need it ask for ``helper`` too)."""
    path = str(tmp_path_factory.mktemp("escape-rootfs"))
    busybox.build(path)
    try:
        binary = build_helper(str(tmp_path_factory.mktemp("escape-build")))
    except RuntimeError:
        return path
    target = path + HELPER_IN_ROOTFS
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(binary, target)
    os.chmod(target, 0o755)
    return path


@pytest.fixture
def helper(escape_rootfs):
    """The helper's path inside the container (skips the test where it could not be built)."""
    if not os.path.exists(escape_rootfs + HELPER_IN_ROOTFS):
        pytest.skip("the escape helper could not be built (needs gcc and a static libc)")
    return HELPER_IN_ROOTFS


def _runner(carton, escape_rootfs, tmp_path, door):
    r = Runner(carton, escape_rootfs, tmp_path, door)
    try:
        yield r
    finally:
        r.cleanup()


@pytest.fixture(params=["bundle", "run"])
def door(request, carton, escape_rootfs, tmp_path):
    """Each test twice: through a bundle made by apply_run_options (works today), and through
    the docker-style `carton run [FLAGS] ROOTFS` (needs the flags wired into cli/run.py)."""
    yield from _runner(carton, escape_rootfs, tmp_path, request.param)


@pytest.fixture
def bundle_door(carton, escape_rootfs, tmp_path):
    """Only through a bundle: for settings `carton run` has no flag for (host PID namespace)."""
    yield from _runner(carton, escape_rootfs, tmp_path, "bundle")
