"""A container's /sys/fs/cgroup on a v2-only host: its own cgroup, read-only, as runc shows it.

Carton binds the container's cgroup directory there (a fresh cgroup2 mount rooted
at a new cgroup costs the kernel 10-15 ms); what the container sees must be what a
cgroup2 mount in its cgroup namespace would show.
"""


def test_the_cgroup_view_is_the_containers_own_and_read_only(oci):
    b = oci.bundle(["sh", "-c", "cat /sys/fs/cgroup/cgroup.procs; echo --; "
                                "mkdir /sys/fs/cgroup/x 2>&1; echo --; cat /proc/self/cgroup; echo --; "
                                "grep ' /sys/fs/cgroup ' /proc/self/mountinfo"])
    out = oci.output(b).split("--\n")
    assert "1" in out[0].split()  # PID 1 of its own PID namespace: the container's cgroup
    assert "Read-only file system" in out[1]
    assert out[2].strip() == "0::/"  # the cgroup namespace's root is the container's cgroup
    fields = out[3].split()
    assert fields[3] == "/" and "ro" in fields[5].split(",")
