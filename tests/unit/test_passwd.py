"""``-u`` lookups in the rootfs's own /etc/passwd and /etc/group, confined to the rootfs."""

import os

import pytest

from carton.errors import CartonError
from carton.rootfs import passwd


@pytest.fixture
def root(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\n"
                                "app:x:100:200:app:/srv/app:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nappgrp:x:200:\nextra:x:300:app,other\nmore:x:301:app\n")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_by_name(root):
    u = passwd.resolve(root, "app")
    assert (u.uid, u.gid, u.additional_gids, u.home) == (100, 200, [300, 301], "/srv/app")


def test_by_number_and_groups(root):
    u = passwd.resolve(root, "100:extra")
    assert (u.uid, u.gid, u.home) == (100, 300, "/srv/app")
    u = passwd.resolve(root, "555:666")
    assert (u.uid, u.gid, u.additional_gids, u.home) == (555, 666, [], "/")


@pytest.mark.parametrize("spec", ["nobody", "app:nogroup", ":1", "app:", "99999999999"])
def test_errors(root, spec):
    with pytest.raises(CartonError):
        passwd.resolve(root, spec)


def test_symlinked_passwd_stays_in_root(tmp_path):
    """An /etc/passwd symlink to a host file is resolved inside the rootfs: nothing is read."""
    (tmp_path / "etc").mkdir()
    os.symlink("/../../../../../etc/shadow", tmp_path / "etc" / "passwd")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(CartonError, match="unable to find user root"):
            passwd.resolve(fd, "root")
    finally:
        os.close(fd)


def test_looping_passwd_is_an_error(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/passwd", tmp_path / "etc" / "passwd")  # itself, inside the root
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(CartonError, match="cannot read the container's /etc/passwd"):
            passwd.resolve(fd, "root")
    finally:
        os.close(fd)
