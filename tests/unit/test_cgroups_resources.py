"""linux.resources: the checks, the conversions, and which file each field is written to.

The drivers are run against fake cgroup trees made in ``tmp_path`` (plain
directories and files), with ``files.write`` replaced by a small fake kernel
that refuses missing files with ENOENT, keeps the last value written to a
file, logs every write, and can be given rules (EINVAL for this write) to
check the order of writes. No real cgroup is touched here.
"""

import errno
import os

import pytest

from carton.cgroups import devices_bpf, files, resources, stats, v1, v2
from carton.errors import CartonError

M = 1 << 20
UNLIMITED_V1 = 9223372036854771712  # what v1 memory.limit_in_bytes reads when there is no limit


# -- the fake kernel -----------------------------------------------------------------


class Kernel:
    def __init__(self, root):
        self.root = str(root)
        self.log = []
        self.rules = []
        self.device_filters = []  # (cgroup, program) attached by the v2 driver
        self.bpf_error = None     # an OSError for attaching one

    def install_device_filter(self, directory, insns):
        if self.bpf_error is not None:
            raise self.bpf_error
        self.device_filters.append((os.path.relpath(directory, self.root), insns))

    def write(self, path, value, hint=None):
        value = str(value)
        for rule in self.rules:
            code = rule(path, value)
            if code:
                raise files.failure("write", path, OSError(code, os.strerror(code)), hint, value)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        except OSError as e:
            raise files.failure("write", path, e, hint, value) from None
        os.write(fd, value.encode())
        os.close(fd)
        self.log.append((os.path.relpath(path, self.root), value))


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    k = Kernel(tmp_path)
    monkeypatch.setattr(files, "write", k.write)
    monkeypatch.setattr(devices_bpf, "install", k.install_device_filter)
    return k


def make(root, layout):
    for relative, content in layout.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


V1_TREE = {
    "memory/web/memory.limit_in_bytes": str(UNLIMITED_V1),
    "memory/web/memory.memsw.limit_in_bytes": str(UNLIMITED_V1),
    "memory/web/memory.soft_limit_in_bytes": str(UNLIMITED_V1),
    "memory/web/memory.usage_in_bytes": str(4 * M),
    "memory/web/memory.swappiness": "60",
    "memory/web/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    "memory/web/memory.use_hierarchy": "1",
    "cpu/web/cpu.shares": "1024",
    "cpu/web/cpu.cfs_period_us": "100000",
    "cpu/web/cpu.cfs_quota_us": "-1",
    "cpu/web/cpu.cfs_burst_us": "0",
    "cpu/web/cpu.idle": "0",
    "cpu/web/cpu.rt_period_us": "1000000",
    "cpu/web/cpu.rt_runtime_us": "0",
    "cpuset/web/cpuset.cpus": "0-3",
    "cpuset/web/cpuset.mems": "0",
    "pids/web/pids.max": "max",
    "blkio/web/blkio.bfq.weight": "100",
    "blkio/web/blkio.bfq.weight_device": "default 100\n",
    "blkio/web/blkio.throttle.read_bps_device": "",
    "blkio/web/blkio.throttle.write_bps_device": "",
    "blkio/web/blkio.throttle.read_iops_device": "",
    "blkio/web/blkio.throttle.write_iops_device": "",
    "devices/web/devices.allow": "",
    "devices/web/devices.deny": "",
    "net_cls/web/net_cls.classid": "0",
    "net_prio/web/net_prio.ifpriomap": "lo 0\n",
}
V1_CONTROLLERS = ("memory", "cpu", "cpuset", "pids", "blkio", "devices", "net_cls", "net_prio")


class V1(v1.Manager):
    """The v1 driver, applying device rules only when asked (their test is separate)."""

    def apply(self, resources, devices=False):
        return super().apply(resources, devices)


def v1_manager(root, layout=V1_TREE, controllers=V1_CONTROLLERS, extra=None):
    make(root, {k: v for k, v in layout.items() if k.split("/")[0] in controllers})
    paths = {c: str(root / c / "web") for c in controllers}
    for c in controllers:
        (root / c / "web").mkdir(parents=True, exist_ok=True)
    paths.update(extra or {})
    return V1(paths)


V2_TREE = {
    "web/cgroup.controllers": "cpuset cpu io memory hugetlb pids",
    "web/cgroup.procs": "",
    "web/pids.max": "max",
    "web/memory.max": "max",
    "web/memory.swap.max": "max",
    "web/memory.low": "0",
    "web/memory.current": str(4 * M),
    "web/memory.high": "max",
    "web/memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
    "web/io.weight": "default 100\n",
    "web/io.max": "",
    "web/cpu.weight": "100",
    "web/cpu.idle": "0",
    "web/cpu.max": "max 100000",
    "web/cpu.max.burst": "0",
    "web/cpuset.cpus": "",
    "web/cpuset.mems": "",
    "web/hugetlb.2MB.max": "max",
    "web/hugetlb.2MB.rsvd.max": "max",
    "web/hugetlb.1GB.max": "max",
}


def v2_manager(root, layout=V2_TREE, drop=()):
    make(root, {k: v for k, v in layout.items() if k.split("/")[-1] not in drop})
    return v2.Manager({"unified": str(root / "web")})


# -- conversions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "shares, weight", [(2, 1), (1024, 39), (512, 20), (262144, 10000), (1, 1), (10**9, 10000)]
)
def test_shares_to_weight_is_runcs_linear_formula(shares, weight):
    assert resources.shares_to_weight(shares) == weight


@pytest.mark.parametrize("blkio, io", [(10, 1), (500, 4950), (300, 2930), (1000, 10000)])
def test_blkio_weight_to_io_weight(blkio, io):
    assert resources.blkio_to_io_weight(blkio) == io


@pytest.mark.parametrize(
    "quota, period, current, line",
    [
        (50000, 100000, None, "50000 100000"),
        (50000, None, None, "50000"),  # the kernel keeps the period
        (-1, None, None, "max"),
        (-1, 250000, None, "max 250000"),
        (None, 200000, "50000 100000\n", "50000 200000"),  # a new period keeps the quota
        (None, 200000, "max 100000\n", "max 200000"),
        (None, 200000, None, "max 200000"),
        (None, None, "50000 100000", None),
    ],
)
def test_cpu_max_lines(quota, period, current, line):
    assert resources.cpu_max(quota, period, current) == line


@pytest.mark.parametrize(
    "swap, limit, text",
    [
        (-1, 64 * M, "max"),
        (96 * M, 64 * M, str(32 * M)),
        (64 * M, 64 * M, "0"),
        (96 * M, -1, str(96 * M)),
        (96 * M, None, str(96 * M)),
    ],
)
def test_swap_for_v2_is_memory_plus_swap_minus_the_limit(swap, limit, text):
    assert resources.swap_v2(swap, limit) == text


def test_swap_below_the_limit_is_refused():
    with pytest.raises(CartonError, match=r"memory.swap \(33554432\) must not be less than the memory limit"):
        resources.swap_v2(32 * M, 64 * M)


@pytest.mark.parametrize(
    "limit, swap, current, first",
    [
        (256 * M, 512 * M, 64 * M, True),  # raising: memory+swap first
        (32 * M, 48 * M, 256 * M, False),  # lowering: the limit first
        (-1, -1, 64 * M, True),  # unlimited: memory+swap first
        (64 * M, 128 * M, UNLIMITED_V1, False),  # from unlimited: the limit first
    ],
)
def test_memsw_order(limit, swap, current, first):
    assert resources.memsw_first(limit, swap, current) is first


def test_device_and_hugepage_names():
    assert resources.device_key(8, 16) == "8:16"
    assert [resources.hugepage_name(kb) for kb in (64, 2048, 1048576, 16 << 20)] == [
        "64KB",
        "2MB",
        "1GB",
        "16GB",
    ]
    assert resources.hugepage_size("2MB") == "2MB" and resources.hugepage_size("64KB") == "64KB"
    for bad in ("2mb", "2 MB", "0MB", "MB", "2MiB", 2048, None, "２MB"):
        with pytest.raises(CartonError, match="must be a huge page size like"):
            resources.hugepage_size(bad)


# -- check ---------------------------------------------------------------------------


def test_the_table_names_a_file_for_every_field():
    for section, fields in resources.KNOWN.items():
        for field in fields:
            if field not in resources.IGNORED.get(section, ()):
                assert f"{section}.{field}" in resources.FILES
    for field, (one, two) in resources.FILES.items():
        assert one or two
        if one is None or two is None:
            assert field in resources.UNAVAILABLE


def test_check_normalises_every_section():
    plan = resources.check(
        {
            "memory": {
                "limit": 64 * M,
                "reservation": -5,
                "swap": 128 * M,
                "swappiness": 0,
                "disableOOMKiller": True,
                "useHierarchy": True,
                "checkBeforeUpdate": False,
                "kernel": 0,
            },
            "cpu": {
                "shares": 1024,
                "quota": -1,
                "period": 100000,
                "burst": 0,
                "idle": 0,
                "cpus": "0-3,6",
                "mems": "",
            },
            "pids": {"limit": 2048},
            "blockIO": {
                "weight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300}, {"major": 8, "minor": 16}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 0}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
            "network": {"classID": 0, "priorities": [{"name": "eth0", "priority": 5}]},
            "unified": {"memory.high": "1G"},
        }
    )
    assert plan.memory == {
        "limit": 64 * M,
        "reservation": -1,
        "swap": 128 * M,
        "swappiness": 0,
        "disableOOMKiller": True,
        "useHierarchy": True,
    }
    assert plan.cpu == {"shares": 1024, "quota": -1, "period": 100000, "burst": 0, "idle": 0, "cpus": "0-3,6"}
    assert plan.pids == 2048
    assert plan.blkio == {
        "weight": 500,
        "weightDevice": [(8, 0, 300, None)],
        "throttleReadBpsDevice": [(8, 0, 0)],
    }
    assert plan.hugepages == [("2MB", 0)]  # limit 0 is a limit (Kubernetes: no huge pages)
    assert plan.network == {"priorities": [("eth0", 5)]}
    assert plan.unified == {"memory.high": "1G"}
    assert plan.warnings == []


def test_containerd_and_podman_defaults_are_accepted_on_both_versions():
    containerd = {"devices": [{"allow": False, "access": "rwm"}], "cpu": {"shares": 1024}}
    podman = {
        "pids": {"limit": 2048},
        "cpu": {"shares": 1024, "quota": 0, "period": 0},
        "memory": {"limit": 0, "swap": 0, "swappiness": None},
        "blockIO": {"weight": 0},
    }
    for version in (1, 2):
        assert resources.check(containerd, version).cpu == {"shares": 1024}
        assert resources.check(podman, version).pids == 2048


@pytest.mark.parametrize(
    "given, message",
    [
        ({"memory": {"swappiness": 101}}, "memory.swappiness must be between 0 and 100, not 101"),
        ({"memory": {"limit": "1G"}}, "memory.limit must be a whole number, not '1G'"),
        (
            {"memory": {"limit": 64 * M, "swap": 32 * M}},
            r"memory.swap \(33554432\) must not be less than memory.limit",
        ),
        ({"memory": {"disableOOMKiller": "yes"}}, "memory.disableOOMKiller must be true or false"),
        ({"cpu": {"shares": 1}}, "cpu.shares must be between 2 and 262144, not 1"),
        ({"cpu": {"idle": 2}}, "cpu.idle must be between 0 and 1"),
        ({"cpu": {"cpus": "all"}}, r"cpu.cpus must be a list like \"0-3,6\""),
        ({"cpu": {"burst": True}}, "cpu.burst must be a whole number"),
        ({"blockIO": {"weight": 5}}, "blockIO.weight must be between 10 and 1000, not 5"),
        (
            {"blockIO": {"weightDevice": [{"minor": 0, "weight": 100}]}},
            r"weightDevice\[0\].major must be a whole",
        ),
        ({"blockIO": {"throttleReadBpsDevice": {"major": 8}}}, "throttleReadBpsDevice must be a list"),
        (
            {"hugepageLimits": [{"pageSize": "2mb", "limit": 1}]},
            r"hugepageLimits\[0\].pageSize must be a huge page",
        ),
        ({"network": {"priorities": [{"name": "../x", "priority": 1}]}}, "must be a network interface name"),
        ({"unified": {"../memory.max": "1"}}, "the key must be a cgroup file name"),
        ({"unified": {"a/memory.max": "1"}}, "the key must be a cgroup file name"),
        ({"unified": {"memory": "1"}}, "the key must be a cgroup file name"),
        ({"unified": {"cgroup.procs": "1"}}, "cgroup.procs belongs to the runtime"),
        ({"unified": {"cgroup.subtree_control": "+cpu"}}, "belongs to the runtime"),
        ({"unified": {"memory.high": 5}}, "must be a string"),
        ({"cpu": "fast"}, "linux.resources.cpu must be an object"),
    ],
)
def test_bad_values_name_the_field(given, message):
    with pytest.raises(CartonError, match=message):
        resources.check(given)


@pytest.mark.parametrize(
    "given, message",
    [
        (
            {"memory": {"swappiness": 10}},
            "linux.resources.memory.swappiness is not available on cgroup v2 "
            r"\(cgroup v2 has no per-cgroup swappiness\)",
        ),
        ({"memory": {"disableOOMKiller": True}}, "memory.disableOOMKiller is not available on cgroup v2"),
        ({"memory": {"useHierarchy": False}}, "useHierarchy cannot be false on cgroup v2"),
        ({"cpu": {"realtimeRuntime": 950}}, "cpu.realtimeRuntime is not available on cgroup v2"),
        ({"cpu": {"realtimePeriod": 1000}}, "cpu.realtimePeriod is not available on cgroup v2"),
        ({"blockIO": {"leafWeight": 100}}, "blockIO.leafWeight is not available on cgroup v2"),
        (
            {"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "leafWeight": 100}]}},
            "blockIO.weightDevice.leafWeight is not available on cgroup v2",
        ),
        ({"network": {"classID": 1}}, "network.classID is not available on cgroup v2"),
        (
            {"network": {"priorities": [{"name": "eth0", "priority": 1}]}},
            "network.priorities is not available",
        ),
    ],
)
def test_v1_only_fields_are_refused_on_v2(given, message):
    resources.check(given, 1)
    with pytest.raises(CartonError, match=message):
        resources.check(given, 2)


def test_v2_only_fields_are_refused_on_v1():
    with pytest.raises(CartonError, match="linux.resources.unified cannot be applied: it needs cgroup v2"):
        resources.check({"unified": {"memory.high": "1G"}}, 1)
    unlimited_memory_limited_swap = {"memory": {"limit": -1, "swap": 512 * M}}
    with pytest.raises(CartonError, match="swap must be -1 .* when memory.limit is -1"):
        resources.check(unlimited_memory_limited_swap, 1)
    assert resources.check(unlimited_memory_limited_swap, 2).memory == {"limit": -1, "swap": 512 * M}
    assert resources.check({"memory": {"useHierarchy": True}}, 2).memory == {"useHierarchy": True}


# -- v1: which file, in which order ------------------------------------------------------


def test_v1_writes_every_field_to_its_file(tmp_path, kernel):
    mgr = v1_manager(tmp_path)
    warnings = mgr.apply(
        {
            "memory": {
                "limit": 64 * M,
                "reservation": 32 * M,
                "swap": 128 * M,
                "swappiness": 0,
                "disableOOMKiller": True,
                "kernelTCP": 1,
            },
            "cpu": {
                "shares": 512,
                "quota": 50000,
                "period": 100000,
                "burst": 0,
                "idle": 1,
                "realtimeRuntime": 950,
                "realtimePeriod": 1000,
                "cpus": "0-1",
                "mems": "0",
            },
            "pids": {"limit": 100},
            "blockIO": {
                "weight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": M}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}],
            },
            "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]},
        },
        devices=False,
    )
    assert warnings == [
        "linux.resources.memory.kernelTCP is ignored (kernel memory limits are gone from recent "
        "kernels; runc ignores it too)"
    ]
    assert kernel.log == [
        ("memory/web/memory.limit_in_bytes", str(64 * M)),  # from unlimited: the limit first
        ("memory/web/memory.memsw.limit_in_bytes", str(128 * M)),
        ("memory/web/memory.soft_limit_in_bytes", str(32 * M)),
        ("memory/web/memory.swappiness", "0"),
        ("memory/web/memory.oom_control", "1"),
        ("cpu/web/cpu.shares", "512"),
        ("cpu/web/cpu.cfs_period_us", "100000"),
        ("cpu/web/cpu.cfs_burst_us", "0"),
        ("cpu/web/cpu.cfs_quota_us", "50000"),
        ("cpu/web/cpu.idle", "1"),
        ("cpu/web/cpu.rt_period_us", "1000"),
        ("cpu/web/cpu.rt_runtime_us", "950"),
        ("cpuset/web/cpuset.cpus", "0-1"),
        ("cpuset/web/cpuset.mems", "0"),
        ("pids/web/pids.max", "100"),
        ("blkio/web/blkio.bfq.weight", "500"),  # BFQ: no blkio.weight in this tree
        ("blkio/web/blkio.bfq.weight_device", "8:0 300"),
        ("blkio/web/blkio.throttle.read_bps_device", f"8:0 {M}"),
        ("blkio/web/blkio.throttle.write_iops_device", "8:16 0"),  # 0 removes the throttle on v1
        ("net_cls/web/net_cls.classid", str(0x100001)),
        ("net_prio/web/net_prio.ifpriomap", "eth0 5"),
    ]


def test_v1_device_rules_start_with_deny_all(tmp_path, kernel):
    mgr = v1_manager(tmp_path)
    mgr.apply(
        {"devices": [{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]}, devices=True
    )
    assert kernel.log[:2] == [
        ("devices/web/devices.deny", "a *:* rwm"),
        ("devices/web/devices.allow", "c 10:229 rwm"),
    ]
    kernel.log.clear()
    mgr.apply({"pids": {"limit": 5}}, devices=False)
    assert kernel.log == [("pids/web/pids.max", "5")]


def memsw_rule(path, value):
    """The v1 kernel's rule: memory.limit_in_bytes <= memory.memsw.limit_in_bytes, always."""
    directory, name = os.path.split(path)

    def number(text):
        return UNLIMITED_V1 if int(text) < 0 else int(text)

    if name == "memory.limit_in_bytes":
        with open(os.path.join(directory, "memory.memsw.limit_in_bytes")) as f:
            return errno.EINVAL if number(value) > number(f.read()) else 0
    if name == "memory.memsw.limit_in_bytes":
        with open(os.path.join(directory, "memory.limit_in_bytes")) as f:
            return errno.EINVAL if number(value) < number(f.read()) else 0
    return 0


def test_v1_memory_and_swap_are_written_in_the_order_the_kernel_accepts(tmp_path, kernel):
    mgr = v1_manager(tmp_path)
    kernel.rules.append(memsw_rule)
    mgr.apply({"memory": {"limit": 64 * M, "swap": 128 * M}})
    kernel.log.clear()
    mgr.apply({"memory": {"limit": 256 * M, "swap": 512 * M}})  # raise both: memory+swap first
    assert [name for name, _ in kernel.log] == [
        "memory/web/memory.memsw.limit_in_bytes",
        "memory/web/memory.limit_in_bytes",
    ]
    kernel.log.clear()
    mgr.apply({"memory": {"limit": 32 * M, "swap": 48 * M}})  # lower both: the limit first
    assert [name for name, _ in kernel.log] == [
        "memory/web/memory.limit_in_bytes",
        "memory/web/memory.memsw.limit_in_bytes",
    ]
    kernel.log.clear()
    mgr.apply({"memory": {"limit": -1}})  # no limit: memory+swap is lifted too, first
    assert kernel.log == [
        ("memory/web/memory.memsw.limit_in_bytes", "-1"),
        ("memory/web/memory.limit_in_bytes", "-1"),
    ]
    mgr.apply({"memory": {"limit": 32 * M, "swap": 32 * M}})
    with pytest.raises(
        CartonError, match="memory.limit: cannot write .*: Invalid argument .*set memory.swap too"
    ):
        mgr.apply({"memory": {"limit": 64 * M}})  # above memory+swap, alone


def test_v1_a_refused_write_is_retried_after_the_others(tmp_path, kernel):
    mgr = v1_manager(tmp_path)
    refused = []

    def period_needs_a_quota_first(path, value):
        if path.endswith("cpu.cfs_period_us") and not refused:
            refused.append(value)
            return errno.EINVAL
        return 0

    kernel.rules.append(period_needs_a_quota_first)
    mgr.apply({"cpu": {"quota": 20000, "period": 50000}})
    assert kernel.log == [("cpu/web/cpu.cfs_quota_us", "20000"), ("cpu/web/cpu.cfs_period_us", "50000")]
    refused.clear()
    with pytest.raises(CartonError, match=r"cpu.period: cannot write .*cpu.cfs_period_us: Invalid argument"):
        mgr.apply({"cpu": {"period": 50000}})  # no quota to write first: no retry


def test_v1_without_swap_accounting(tmp_path, kernel):
    layout = {k: v for k, v in V1_TREE.items() if "memsw" not in k}
    mgr = v1_manager(tmp_path, layout)
    with pytest.raises(CartonError) as e:
        mgr.apply({"memory": {"limit": 64 * M, "swap": 128 * M}})
    assert str(e.value) == (
        f"cannot set linux.resources.memory.swap: {tmp_path}/memory/web/memory.memsw.limit_in_bytes "
        "does not exist (this kernel does not account swap: CONFIG_MEMCG_SWAP, or boot with "
        "swapaccount=1)"
    )
    assert kernel.log == []  # nothing written, not even the limit
    mgr.apply({"memory": {"limit": 64 * M, "swap": -1}})  # "unlimited swap" is what there is
    mgr.apply({"memory": {"limit": -1}})
    assert kernel.log == [
        ("memory/web/memory.limit_in_bytes", str(64 * M)),
        ("memory/web/memory.limit_in_bytes", "-1"),
    ]


def test_v1_blkio_weight_files(tmp_path, kernel):
    none = {k: v for k, v in V1_TREE.items() if "weight" not in k}
    mgr = v1_manager(tmp_path / "none", none)
    with pytest.raises(
        CartonError,
        match=r"blockIO.weight: .*/blkio/web/blkio.weight does not exist \(nor "
        r"blkio.bfq.weight: I/O weights need the BFQ I/O scheduler",
    ):
        mgr.apply({"blockIO": {"weight": 500}})
    with pytest.raises(
        CartonError,
        match=r"blockIO.leafWeight: .*/blkio.leaf_weight does not exist \(leaf "
        "weights were a CFQ feature",
    ):
        mgr.apply({"blockIO": {"leafWeight": 500}})
    cfq = dict(
        none,
        **{
            "blkio/web/blkio.weight": "500",
            "blkio/web/blkio.weight_device": "",
            "blkio/web/blkio.leaf_weight": "500",
            "blkio/web/blkio.leaf_weight_device": "",
        },
    )
    mgr = v1_manager(tmp_path / "cfq", cfq)
    mgr.apply(
        {
            "blockIO": {
                "weight": 200,
                "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 400, "leafWeight": 500}],
            }
        }
    )
    assert [(os.path.basename(p), v) for p, v in kernel.log] == [
        ("blkio.weight", "200"),
        ("blkio.leaf_weight", "300"),
        ("blkio.weight_device", "8:0 400"),
        ("blkio.leaf_weight_device", "8:0 500"),
    ]


def test_v1_missing_hierarchies_and_v2_only_fields(tmp_path, kernel):
    mgr = v1_manager(tmp_path, controllers=("memory", "pids"))
    with pytest.raises(
        CartonError,
        match="^cannot set linux.resources.network.classID: no net_cls cgroup hierarchy "
        "is mounted on this machine$",
    ):
        mgr.apply({"pids": {"limit": 5}, "network": {"classID": 7}})
    with pytest.raises(CartonError, match="cannot set linux.resources.cpu.shares: no cpu cgroup hierarchy"):
        mgr.apply({"cpu": {"shares": 512}})
    with pytest.raises(CartonError, match="cannot set linux.resources.cpu.cpus: no cpuset cgroup hierarchy"):
        mgr.apply({"cpu": {"cpus": "0"}})
    with pytest.raises(
        CartonError, match="cannot set linux.resources.hugepageLimits: no hugetlb cgroup hierarchy"
    ):
        mgr.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})
    with pytest.raises(CartonError, match="linux.resources.unified cannot be applied: it needs cgroup v2"):
        mgr.apply({"unified": {"memory.high": "1G"}})
    assert kernel.log == []


def test_v1_hugetlb_hierarchy(tmp_path, kernel):
    layout = dict(
        V1_TREE,
        **{
            "hugetlb/web/hugetlb.2MB.limit_in_bytes": "0",
            "hugetlb/web/hugetlb.2MB.rsvd.limit_in_bytes": "0",
            "hugetlb/web/hugetlb.1GB.limit_in_bytes": "0",
        },
    )
    mgr = v1_manager(tmp_path, layout, controllers=("memory", "hugetlb"))
    mgr.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * M}, {"pageSize": "1GB", "limit": 0}]})
    assert kernel.log == [
        ("hugetlb/web/hugetlb.2MB.limit_in_bytes", str(4 * M)),
        ("hugetlb/web/hugetlb.2MB.rsvd.limit_in_bytes", str(4 * M)),
        ("hugetlb/web/hugetlb.1GB.limit_in_bytes", "0"),
    ]
    with pytest.raises(
        CartonError,
        match=r"hugepageLimits \(16GB\): .*hugetlb.16GB.limit_in_bytes does not exist "
        r"\(this machine has no 16GB huge pages",
    ):
        mgr.apply({"hugepageLimits": [{"pageSize": "16GB", "limit": 0}]})


def hybrid(root, top_enabled):
    """A hybrid machine without a v1 hugetlb hierarchy: hugetlb is on the cgroup2 mount."""
    make(
        root,
        {
            "unified/cgroup.controllers": "hugetlb",
            "unified/cgroup.subtree_control": "hugetlb" if top_enabled else "",
            "unified/default/cgroup.controllers": "hugetlb",
            "unified/default/cgroup.subtree_control": "",
            "unified/default/web/cgroup.controllers": "",
            "unified/default/web/cgroup.procs": "",
        },
    )
    return v1_manager(
        root, controllers=("memory", "pids"), extra={"unified": str(root / "unified" / "default" / "web")}
    )


def enabling_makes_files(path, value):
    """The kernel: enabling hugetlb in a cgroup makes the hugetlb files appear in its children."""
    if path.endswith("cgroup.subtree_control") and value == "+hugetlb":
        directory = os.path.dirname(path)
        for child in os.listdir(directory):
            if os.path.isdir(os.path.join(directory, child)):
                for name in ("hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"):
                    with open(os.path.join(directory, child, name), "w") as f:
                        f.write("max")
    return 0


def test_hybrid_hugetlb_goes_to_the_cgroup2_directory(tmp_path, kernel):
    mgr = hybrid(tmp_path, top_enabled=True)
    kernel.rules.append(enabling_makes_files)
    mgr.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})
    assert kernel.log == [
        ("unified/default/cgroup.subtree_control", "+hugetlb"),
        ("unified/default/web/hugetlb.2MB.max", "0"),
        ("unified/default/web/hugetlb.2MB.rsvd.max", "0"),
    ]


def test_hybrid_hugetlb_leaves_the_top_of_the_tree_alone(tmp_path, kernel):
    mgr = hybrid(tmp_path, top_enabled=False)
    with pytest.raises(CartonError) as e:
        mgr.apply({"pids": {"limit": 5}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})
    assert str(e.value) == (
        "cannot set linux.resources.hugepageLimits: the hugetlb controller is not enabled at the "
        "top of the cgroup2 tree, a setting for the whole machine that Carton leaves to its "
        f"administrator (echo +hugetlb > {tmp_path}/unified/cgroup.subtree_control)"
    )
    assert kernel.log == []


def test_v1_check_before_update(tmp_path, kernel):
    mgr = v1_manager(tmp_path)
    with pytest.raises(
        CartonError,
        match=f"cannot set linux.resources.memory.limit to {2 * M}: the container already uses {4 * M} bytes",
    ):
        mgr.apply({"memory": {"limit": 2 * M, "checkBeforeUpdate": True}})
    mgr.apply({"memory": {"limit": 8 * M, "checkBeforeUpdate": True}})
    assert kernel.log == [("memory/web/memory.limit_in_bytes", str(8 * M))]


def test_a_missing_cgroup_is_named(tmp_path, kernel):
    mgr = v1.Manager({"pids": str(tmp_path / "pids" / "gone")})
    with pytest.raises(
        CartonError,
        match=f"cannot set linux.resources.pids.limit: the cgroup {tmp_path}/pids/gone does not exist",
    ):
        mgr.apply({"pids": {"limit": 5}}, devices=False)


# -- v2 ------------------------------------------------------------------------------


def test_v2_writes_every_field_to_its_file(tmp_path, kernel):
    mgr = v2_manager(tmp_path)
    warnings = mgr.apply(
        {
            "memory": {"limit": 64 * M, "swap": 96 * M, "reservation": 32 * M},
            "cpu": {
                "shares": 1024,
                "quota": 50000,
                "period": 100000,
                "burst": 1000,
                "idle": 0,
                "cpus": "0",
                "mems": "0",
            },
            "pids": {"limit": -1},
            "blockIO": {
                "weight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": M}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 0}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 200}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
            "unified": {"memory.high": "100000000"},
            "devices": [{"allow": False, "access": "rwm"}],
        }
    )
    assert warnings == []
    default = devices_bpf.program(devices_bpf.replay(resources.check({}).devices))
    assert kernel.device_filters == [("web", default)]  # deny all, then runc's defaults
    assert kernel.log == [
        ("web/pids.max", "max"),
        ("web/memory.swap.max", str(32 * M)),  # memory+swap 96M, memory 64M: 32M of swap
        ("web/memory.max", str(64 * M)),
        ("web/memory.low", str(32 * M)),
        ("web/io.weight", "4950"),  # no BFQ: converted to io.weight's range
        ("web/io.weight", "8:0 2930"),
        ("web/io.max", f"8:0 rbps={M}"),
        ("web/io.max", "8:0 wbps=max"),  # io.max has no 0: "max" lifts the throttle
        ("web/io.max", "8:16 riops=100"),
        ("web/io.max", "8:16 wiops=200"),
        ("web/cpu.weight", "39"),
        ("web/cpu.idle", "0"),
        ("web/cpu.max.burst", "1000"),
        ("web/cpu.max", "50000 100000"),
        ("web/cpuset.cpus", "0"),
        ("web/cpuset.mems", "0"),
        ("web/hugetlb.2MB.max", "0"),
        ("web/hugetlb.2MB.rsvd.max", "0"),
        ("web/memory.high", "100000000"),  # unified last: it overrides
    ]


def test_v2_device_filter_is_the_v1_list_and_update_leaves_it(tmp_path, kernel):
    mgr = v2_manager(tmp_path)
    fuse = {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
    assert mgr.apply({"devices": [fuse]}) == []
    expected = devices_bpf.program(devices_bpf.replay(resources.check({"devices": [fuse]}).devices))
    assert kernel.device_filters == [("web", expected)] and mgr.devices_enforced
    mgr.apply({"pids": {"limit": 5}, "devices": [fuse]}, devices=False)  # update: rules unchanged
    assert len(kernel.device_filters) == 1 and kernel.log == [("web/pids.max", "5")]


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOSYS, errno.EINVAL])
def test_v2_without_a_device_filter_warns_and_asks_for_confinement(tmp_path, kernel, code):
    from carton.linux.libc import syscall_error

    mgr = v2_manager(tmp_path)
    kernel.bpf_error = syscall_error(code, "bpf(BPF_PROG_LOAD)")
    warnings = mgr.apply({"pids": {"limit": 5}})
    assert warnings == [
        f"linux.resources.devices is not enforced: cannot attach the cgroup v2 device filter "
        f"(bpf(BPF_PROG_LOAD): {os.strerror(code)}); instead the container gets no CAP_MKNOD and a "
        "nodev root"
    ]
    assert not mgr.devices_enforced
    assert kernel.log == [("web/pids.max", "5")]  # the limits are applied all the same


def test_v2_device_filter_errors_that_are_not_the_kernels_lack(tmp_path, kernel):
    from carton.linux.libc import syscall_error

    mgr = v2_manager(tmp_path)
    kernel.bpf_error = syscall_error(errno.EPERM, "bpf(BPF_PROG_ATTACH)")
    assert mgr.apply({"devices": [{"allow": True, "access": "rwm"}]}) == []  # allows everything anyway
    assert mgr.devices_enforced
    refused = syscall_error(errno.EACCES, "bpf(BPF_PROG_LOAD)", hint="the verifier says: R0 !read_ok")
    refused.verifier_log = "0: (95) exit\nR0 !read_ok"
    kernel.bpf_error = refused
    with pytest.raises(CartonError, match=r"cannot apply linux.resources.devices to .*/web: "
                                          r"bpf\(BPF_PROG_LOAD\): Permission denied \(the verifier says"):
        mgr.apply({})
    kernel.bpf_error = syscall_error(errno.EBADF, "bpf(BPF_PROG_ATTACH)")
    with pytest.raises(CartonError, match="Bad file descriptor"):
        mgr.apply({})


def test_v2_bfq_weights(tmp_path, kernel):
    mgr = v2_manager(tmp_path, dict(V2_TREE, **{"web/io.bfq.weight": "default 100\n"}))
    mgr.apply({"blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 300}]}})
    assert kernel.log == [("web/io.bfq.weight", "500"), ("web/io.bfq.weight", "8:0 300")]


def test_v2_updates_keep_what_they_are_not_asked_to_change(tmp_path, kernel):
    mgr = v2_manager(
        tmp_path, dict(V2_TREE, **{"web/cpu.max": "50000 100000\n", "web/memory.max": str(64 * M)})
    )
    mgr.apply({"cpu": {"period": 200000}})  # the quota stays
    mgr.apply({"memory": {"swap": 100 * M}})  # against the limit the cgroup has
    mgr.apply({"memory": {"limit": -1}})  # no limit: no swap limit either
    assert kernel.log == [
        ("web/cpu.max", "50000 200000"),
        ("web/memory.swap.max", str(36 * M)),
        ("web/memory.swap.max", "max"),
        ("web/memory.max", "max"),
    ]


def test_v2_missing_controllers_and_files_are_named(tmp_path, kernel):
    layout = dict(V2_TREE, **{"web/cgroup.controllers": "memory pids"})
    mgr = v2_manager(tmp_path, layout, drop=("cpu.weight", "memory.swap.max", "io.weight"))
    with pytest.raises(CartonError) as e:
        mgr.apply({"pids": {"limit": 5}, "cpu": {"shares": 512}})
    assert str(e.value) == (
        f"cannot set linux.resources.cpu.shares: {tmp_path}/web/cpu.weight does not exist (the cpu "
        f"controller is not enabled for this cgroup: {tmp_path}/cgroup.subtree_control does not "
        "list it)"
    )
    with pytest.raises(
        CartonError,
        match=r"memory.swap: .*memory.swap.max does not exist \(this kernel does not "
        "account swap",
    ):
        mgr.apply({"memory": {"limit": 64 * M, "swap": 128 * M}})
    with pytest.raises(
        CartonError,
        match=r"unified\['memory.foo'\]: .*memory.foo does not exist \(this kernel has "
        r"no memory.foo\)",
    ):
        mgr.apply({"unified": {"memory.foo": "1"}})
    with pytest.raises(
        CartonError, match=r"blockIO.weight: .*io.weight does not exist \(the io controller is not"
    ):
        mgr.apply({"blockIO": {"weight": 100}})
    assert kernel.log == []
    mgr.apply({"memory": {"limit": 64 * M, "swap": -1}})  # nothing to limit without swap accounting
    assert kernel.log == [("web/memory.max", str(64 * M))]


def test_v2_refuses_v1_only_fields_before_writing(tmp_path, kernel):
    mgr = v2_manager(tmp_path)
    with pytest.raises(CartonError, match="memory.swappiness is not available on cgroup v2"):
        mgr.apply({"pids": {"limit": 5}, "memory": {"swappiness": 0}})
    with pytest.raises(CartonError, match=f"already uses {4 * M} bytes"):
        mgr.apply({"pids": {"limit": 5}, "memory": {"limit": M, "checkBeforeUpdate": True}})
    assert kernel.log == []


# -- stats and OOM counts ------------------------------------------------------------


def test_parse_blkio_and_io_stat():
    v1_text = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n"
    assert stats.parse_blkio(v1_text)[:2] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 8192},
    ]
    assert len(stats.parse_blkio(v1_text)) == 5
    v2_text = "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
    assert stats.parse_io_stat(v2_text) == {
        "ioServiceBytesRecursive": [
            {"major": 254, "minor": 0, "op": "Read", "value": 4096},
            {"major": 254, "minor": 0, "op": "Write", "value": 8192},
        ],
        "ioServicedRecursive": [
            {"major": 254, "minor": 0, "op": "Read", "value": 1},
            {"major": 254, "minor": 0, "op": "Write", "value": 2},
        ],
    }


def test_v1_stats_and_oom_count(tmp_path):
    layout = dict(
        V1_TREE,
        **{
            "cpuacct/web/cpuacct.usage": "3000",
            "cpuacct/web/cpuacct.usage_percpu": "1000 2000",
            "cpuacct/web/cpuacct.stat": "user 1\nsystem 2\n",
            "cpu/web/cpu.stat": "nr_periods 4\nnr_throttled 1\nthrottled_time 77\n",
            "memory/web/memory.stat": "cache 10\nrss 20\n",
            "memory/web/memory.failcnt": "3",
            "memory/web/memory.max_usage_in_bytes": str(8 * M),
            "pids/web/pids.current": "2",
            "blkio/web/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\nTotal 4096\n",
        },
    )
    mgr = v1_manager(tmp_path, layout, controllers=V1_CONTROLLERS + ("cpuacct",))
    result = mgr.stats()
    hz = os.sysconf("SC_CLK_TCK")
    assert result["cpu"] == {
        "usage": {"total": 3000, "percpu": [1000, 2000], "user": 10**9 // hz, "kernel": 2 * 10**9 // hz},
        "throttling": {"periods": 4, "throttledPeriods": 1, "throttledTime": 77},
    }
    assert result["memory"]["usage"] == {"limit": UNLIMITED_V1, "usage": 4 * M, "max": 8 * M, "failcnt": 3}
    assert result["memory"]["cache"] == 10 and result["memory"]["raw"] == {"cache": 10, "rss": 20}
    assert result["pids"] == {"current": 2, "limit": 0}
    assert result["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096}
    ]
    assert set(result) == {"cpu", "memory", "pids", "blkio", "hugetlb"}
    assert mgr.oom_count() == 2
    assert v1.Manager({"pids": str(tmp_path / "pids" / "web")}).oom_count() is None


def test_v2_stats_and_oom_count(tmp_path):
    layout = dict(
        V2_TREE,
        **{
            "web/cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 1\n",
            "web/memory.max": str(64 * M),
            "web/memory.swap.max": str(32 * M),
            "web/memory.swap.current": str(M),
            "web/memory.stat": "anon 5\nfile 7\n",
            "web/pids.current": "1",
            "web/pids.max": "10",
            "web/io.stat": "8:0 rbytes=1 wbytes=2 rios=3 wios=4\n",
            "web/hugetlb.2MB.current": "0",
            "web/hugetlb.2MB.events": "max 2\n",
        },
    )
    mgr = v2_manager(tmp_path, layout)
    result = mgr.stats()
    assert result["cpu"]["usage"] == {"total": 5000, "user": 3000, "kernel": 2000}
    assert result["memory"]["usage"] == {"usage": 4 * M, "limit": 64 * M, "max": 0, "failcnt": 3}
    assert result["memory"]["swap"]["usage"] == 5 * M and result["memory"]["swap"]["limit"] == 96 * M
    assert result["memory"]["cache"] == 7
    assert result["pids"] == {"current": 1, "limit": 10}
    assert result["blkio"]["ioServicedRecursive"][0] == {"major": 8, "minor": 0, "op": "Read", "value": 3}
    assert result["hugetlb"]["2MB"] == {"usage": 0, "max": 0, "failcnt": 2}
    assert mgr.oom_count() == 1
    assert v2.Manager({"unified": str(tmp_path / "gone")}).stats() == stats.empty()
    assert v2.Manager({"unified": str(tmp_path / "gone")}).oom_count() is None
