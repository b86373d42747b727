"""Reading a cgroup's counters in the shape of ``runc events --stats``.

containerd's runc shim and other tools read the ``data`` of ``runc events
--stats`` (runc's ``types.Stats``)::

    {"cpu": {"usage": {"total", "percpu", "percpu_kernel", "percpu_user", "kernel", "user"},
             "throttling": {"periods", "throttledPeriods", "throttledTime"}},
     "memory": {"cache", "usage": {"limit", "usage", "max", "failcnt"}, "swap": {...},
                "kernel": {...}, "kernelTCP": {...}, "raw": {memory.stat}},
     "pids": {"current", "limit"},
     "blkio": {"ioServiceBytesRecursive": [{"major", "minor", "op", "value"}],
               "ioServicedRecursive": [...]},
     "hugetlb": {"2MB": {"usage", "max", "failcnt"}}}

Times are nanoseconds, sizes bytes. An unlimited limit is the largest
uint64 for memory and ``0`` for pids, as runc reports them. The drivers
fill this from their own files; the parsers here are pure and unit-tested.
"""

import os

from . import files

UNLIMITED = 2**64 - 1


def empty():
    """Every section, zeroed: what runc prints for a cgroup that has nothing to say."""
    entry = {"limit": 0, "usage": 0, "max": 0, "failcnt": 0}
    return {"cpu": {"usage": {"total": 0, "kernel": 0, "user": 0},
                    "throttling": {"periods": 0, "throttledPeriods": 0, "throttledTime": 0}},
            "memory": {"cache": 0, "usage": dict(entry), "swap": dict(entry), "kernel": dict(entry),
                       "kernelTCP": dict(entry), "raw": {}},
            "pids": {"current": 0, "limit": 0},
            "blkio": {"ioServiceBytesRecursive": [], "ioServicedRecursive": []},
            "hugetlb": {}}


def parse_blkio(text):
    """A v1 ``blkio.*`` stat file (``8:0 Read 4096`` lines, a ``Total`` line) as runc's entries."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or ":" not in fields[0]:
            continue  # "Total 1234"
        major, _, minor = fields[0].partition(":")
        op = fields[1] if len(fields) == 3 else ""
        try:
            entries.append({"major": int(major), "minor": int(minor), "op": op, "value": int(fields[-1])})
        except ValueError:
            continue
    return entries


IO_STAT_KEYS = {"rbytes": ("ioServiceBytesRecursive", "Read"), "wbytes": ("ioServiceBytesRecursive", "Write"),
                "rios": ("ioServicedRecursive", "Read"), "wios": ("ioServicedRecursive", "Write")}


def parse_io_stat(text):
    """v2 ``io.stat`` (``8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...``) in v1's tables, as runc maps it."""
    result = {"ioServiceBytesRecursive": [], "ioServicedRecursive": []}
    for line in text.splitlines():
        fields = line.split()
        if not fields or ":" not in fields[0]:
            continue
        major, _, minor = fields[0].partition(":")
        for item in fields[1:]:
            key, _, value = item.partition("=")
            if key in IO_STAT_KEYS and value.isdigit():
                table, op = IO_STAT_KEYS[key]
                result[table].append({"major": int(major), "minor": int(minor), "op": op,
                                      "value": int(value)})
    return result


def keyed_value(text, key):
    """The number after ``key`` in a ``key value`` per line text, or ``None``."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def numbers(path):
    """A file of numbers separated by spaces (``cpuacct.usage_percpu``); ``[]`` when missing."""
    try:
        with open(path) as f:
            return [int(n) for n in f.read().split()]
    except (OSError, ValueError):
        return []


def hugepage_sizes(directory):
    """The page sizes the hugetlb files in ``directory`` are about: ``["1GB", "2MB"]``."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted({n.split(".")[1] for n in names if n.startswith("hugetlb.") and n.count(".") >= 2})


def read_text(path):
    """A file's text, or ``""`` when it is not there (a controller that is not enabled)."""
    try:
        return files.read(path)
    except files.FileError:
        return ""
