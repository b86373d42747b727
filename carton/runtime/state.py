"""A container's state directory: ``<root>/<id>/`` (``--root``, default ``/run/carton``).

Record before you create: the directory, and the ``state.json`` in it, exist
before any process or namespace does, so whatever a container owns on the
host can always be found and removed. The files docker bind-mounts into a
container (``hostname``, ``hosts``, ``resolv.conf``) live here too.

``state.json`` follows the OCI runtime-spec's state (ociVersion, id, status,
pid, bundle, annotations), plus Carton's own fields. It is always written
to a temporary file and renamed, so a reader never sees half of it.
"""

import fcntl
import os

from .. import jsonc
from ..errors import CartonError

DEFAULT_ROOT = "/run/carton"

# runc's rule for container ids: letters, digits and _ + - . (not "." or "..").
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id):
    """Refuse ids that runc refuses (they name a directory under the state root)."""
    if not container_id or container_id in (".", "..") or not set(container_id) <= _ID_CHARS:
        raise CartonError(f"invalid container id {container_id!r}: use letters, digits and "
                          "_ + - .", 1)
    if len(container_id) > 1024:
        raise CartonError("invalid container id: longer than 1024 characters", 1)


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

    def lock(self):
        """Take this container's lock (flock(2) on its directory); released on close of the fd.

        Two carton processes acting on one container (start and delete, say)
        take turns, so neither sees the other's half-done change.
        """
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

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
        self.write_file("state.json", jsonc.dumps(state), 0o600)

    def load(self):
        with open(self.file("state.json")) as f:
            return jsonc.loads(f.read())

    def exists(self):
        return os.path.isdir(self.path)

    def remove(self):
        """Remove the directory and the files in it (it holds no subdirectories)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(self.file(name))
            except FileNotFoundError:
                pass  # a rival remover (delete vs. a foreground run's own cleanup) was first
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass


def open_state(root, container_id):
    """The StateDir and record of an existing container, or a "does not exist" error."""
    check_id(container_id)
    sd = StateDir(root, container_id)
    try:
        return sd, sd.load()
    except FileNotFoundError:
        raise CartonError(f"container {container_id} does not exist", 1) from None
    except ValueError:
        raise CartonError(f"container {container_id}: its state file is damaged "
                          f"({sd.file('state.json')})", 1) from None


def status(sd, record):
    """The container's status now, as the runtime-spec names them, found from the kernel.

    Stored status only says what we last did; the truth is the init process:
    gone means ``stopped``; alive with the exec FIFO still there means
    ``created`` (waiting for start); frozen means ``paused``; else ``running``.
    """
    if record.get("status") == "creating":
        if pid_alive(record.get("carton_pid"), record.get("carton_start")):
            return "creating"
        return "stopped"
    if not pid_alive(record.get("pid"), record.get("start_time")):
        return "stopped"
    if os.path.exists(sd.file("exec.fifo")):
        return "created"
    if record.get("cgroup_paths"):
        from .. import cgroups

        try:
            if cgroups.from_paths(record["cgroup_paths"]).frozen():
                return "paused"
        except (CartonError, OSError):
            pass
    return "running"


def oci_state(sd, record, current=None):
    """The state runc prints for ``state`` and hands to hooks on stdin."""
    current = current or status(sd, record)
    return {"ociVersion": record.get("ociVersion", "1.2.0"), "id": record["id"],
            "pid": record.get("pid", 0) if current != "stopped" else 0,
            "status": current, "bundle": record.get("bundle", ""),
            "rootfs": record.get("rootfs", ""), "created": record.get("created", ""),
            "owner": "", "annotations": record.get("annotations") or {}}


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
