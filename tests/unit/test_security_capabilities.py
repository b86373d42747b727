"""Capability resolution: docker's default set, --cap-add/--cap-drop/--privileged, the OCI sets."""

import pytest

from carton.errors import CartonError
from carton.linux.caps import NAMES
from carton.security.capabilities import (
    DOCKER_DEFAULT,
    DOCKER_DEFAULT_MASK,
    available,
    mask,
    normalize,
    process_capabilities,
    resolve,
)

EVERY = list(NAMES)


def test_docker_default_mask():
    assert len(DOCKER_DEFAULT) == 14
    assert mask(DOCKER_DEFAULT) == DOCKER_DEFAULT_MASK == 0xA80425FB


def test_no_flags_gives_docker_default():
    assert resolve(have=EVERY) == list(DOCKER_DEFAULT)


@pytest.mark.parametrize("name", ["net_admin", "NET_ADMIN", "cap_net_admin", "CAP_NET_ADMIN",
                                  " Net_Admin "])
def test_names_with_or_without_prefix_any_case(name):
    assert normalize(name) == "CAP_NET_ADMIN"
    assert resolve(cap_add=[name], have=EVERY)[-1] == "CAP_NET_ADMIN"


@pytest.mark.parametrize("name", ["all", "ALL", "All"])
def test_all_in_any_case(name):
    assert normalize(name) == "ALL"


def test_add_and_drop():
    caps = resolve(cap_add=["SYS_ADMIN", "NET_ADMIN"], cap_drop=["CHOWN", "net_raw"], have=EVERY)
    assert "CAP_CHOWN" not in caps and "CAP_NET_RAW" not in caps
    assert caps[-2:] == ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
    assert len(caps) == 14


def test_adding_a_default_one_does_not_duplicate():
    assert resolve(cap_add=["CHOWN"], have=EVERY) == list(DOCKER_DEFAULT)


def test_drop_all_then_add():
    assert resolve(cap_add=["NET_BIND_SERVICE"], cap_drop=["ALL"], have=EVERY) == [
        "CAP_NET_BIND_SERVICE"]
    assert resolve(cap_drop=["ALL"], have=EVERY) == []


def test_add_all_minus_drops():
    caps = resolve(cap_add=["ALL"], cap_drop=["SYS_ADMIN", "MKNOD"], have=EVERY)
    assert set(caps) == set(EVERY) - {"CAP_SYS_ADMIN", "CAP_MKNOD"}


def test_add_all_wins_over_drop_all():
    assert set(resolve(cap_add=["ALL"], cap_drop=["ALL"], have=EVERY)) == set(EVERY)


def test_privileged_gets_everything_we_have_whatever_the_flags():
    have = [c for c in EVERY if c != "CAP_SYS_RESOURCE"]
    caps = resolve(cap_drop=["ALL"], privileged=True, have=have)
    assert caps == have  # in the kernel's order
    assert "CAP_SYS_RESOURCE" not in caps


def test_adding_one_we_do_not_have_is_an_error():
    with pytest.raises(CartonError, match="not available in the current environment.*CAP_SYS_RESOURCE"):
        resolve(cap_add=["SYS_RESOURCE"], have=list(DOCKER_DEFAULT))


def test_dropping_one_we_do_not_have_is_fine():
    assert "CAP_SYS_RESOURCE" not in resolve(cap_drop=["SYS_RESOURCE"], have=list(DOCKER_DEFAULT))


@pytest.mark.parametrize("flag, kwargs", [("--cap-add", {"cap_add": ["NET_FOO"]}),
                                          ("--cap-drop", {"cap_drop": ["cap_bogus"]})])
def test_unknown_name_is_an_error(flag, kwargs):
    with pytest.raises(CartonError, match=f"unknown capability.*{flag}") as e:
        resolve(have=EVERY, **kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("bad", ["", "  ", None])
def test_empty_name_is_an_error(bad):
    with pytest.raises(CartonError):
        normalize(bad)


def test_available_reads_our_bounding_set():
    have = available()
    assert have and set(have) <= set(EVERY)


def test_root_gets_bounding_effective_permitted():
    caps = process_capabilities(DOCKER_DEFAULT, 0)
    assert caps.bounding == caps.effective == caps.permitted == list(DOCKER_DEFAULT)
    assert caps.inheritable == caps.ambient == []


def test_non_root_gets_bounding_only():
    caps = process_capabilities(DOCKER_DEFAULT, 1000)
    assert caps.bounding == list(DOCKER_DEFAULT)
    assert caps.effective == caps.permitted == caps.inheritable == caps.ambient == []
    assert caps.to_dict() == {"bounding": list(DOCKER_DEFAULT)}
