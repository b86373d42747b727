"""Fixtures of the integration tests that drive the runc-compatible verbs."""

import pytest
from oci_bundle import OCI


@pytest.fixture
def oci(carton, rootfs, tmp_path):
    """Runs ``carton`` as an engine would; deletes every container it made, whatever happened."""
    o = OCI(carton, rootfs, tmp_path)
    try:
        yield o
    finally:
        o.cleanup()


@pytest.fixture
def shared(tmp_path):
    """A host directory the containers see at /tmp (a directory the rootfs has already)."""
    path = tmp_path / "shared"
    path.mkdir()
    return path
