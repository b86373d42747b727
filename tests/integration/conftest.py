"""Fixtures of the integration tests that drive the runc-compatible verbs."""

import pytest
from oci_bundle import oci  # noqa: F401  (a fixture, shared with tests/v2)


@pytest.fixture
def shared(tmp_path):
    """A host directory the containers see at /tmp (a directory the rootfs has already)."""
    path = tmp_path / "shared"
    path.mkdir()
    return path
