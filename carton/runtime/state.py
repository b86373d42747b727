"""A container's state directory: ``<root>/<id>/`` (``--root``, default ``/run/carton``).

Record before you create: the directory, and the ``state.json`` in it, exist
before any process or namespace does, so whatever a container owns on the
host can always be found and removed. The files docker bind-mounts into a
container (``hostname``, ``hosts``, ``resolv.conf``) live here too.

``state.json`` follows the OCI runtime-spec's state (ociVersion, id, status,
pid, bundle, annotations), plus Carton's own fields. It is always written
to a temporary file and renamed, so a reader never sees half of it.
"""

import json
import os

DEFAULT_ROOT = "/run/carton"


class StateDir:
    def __init__(self, root, container_id):
        self.root = root
        self.id = container_id
        self.path = os.path.join(root, container_id)

    def create(self):
        """Make the directory; raise FileExistsError if the id is taken."""
        os.makedirs(self.root, 0o711, exist_ok=True)
        os.mkdir(self.path, 0o711)

    def file(self, name):
        return os.path.join(self.path, name)

    def write_file(self, name, text, mode=0o644):
        """Write a file atomically: a temporary file, then rename(2) over the old one."""
        tmp = self.file(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.rename(tmp, self.file(name))

    def save(self, state):
        self.write_file("state.json", json.dumps(state), 0o600)

    def load(self):
        with open(self.file("state.json")) as f:
            return json.load(f)

    def remove(self):
        """Remove the directory and the files in it (it holds no subdirectories)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return
        for name in names:
            os.unlink(self.file(name))
        os.rmdir(self.path)


def list_states(root):
    """Every readable ``state.json`` under ``root``, as (StateDir, dict) pairs."""
    try:
        ids = os.listdir(root)
    except FileNotFoundError:
        return []
    result = []
    for cid in ids:
        sd = StateDir(root, cid)
        try:
            result.append((sd, sd.load()))
        except (OSError, ValueError):
            continue
    return result


def process_start_time(pid):
    """The start time of ``pid`` (clock ticks since boot, /proc/PID/stat field 22), or None.

    A PID alone does not name a process for long: once it exits, the kernel may
    give the number to another one. A (PID, start time) pair does, so state
    records both, and a container whose pair no longer matches is gone.
    A zombie counts as gone too: it has exited, it just was not reaped yet.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def pid_alive(pid, start_time=None):
    """True if ``pid`` runs and, when ``start_time`` is given, is the process that had it."""
    if not pid:
        return False
    current = process_start_time(pid)
    return current is not None and (start_time is None or current == start_time)
