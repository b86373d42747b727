"""OCI hooks: host programs run at fixed points of a container's life, with its state on stdin.

The runtime-spec's points, in order: ``createRuntime`` (and the older
``prestart``) in the runtime's namespaces once the container's namespaces
exist, before pivot_root; ``createContainer`` inside the container's
namespaces, also before pivot_root; ``startContainer`` inside the container,
just before the user's program; ``poststart`` after start; ``poststop``
after delete. A failing hook before the program runs fails the container;
a failing ``poststart`` or ``poststop`` hook is only reported (the spec says so).
"""

from .. import jsonc
from ..errors import CartonError

FATAL = ("prestart", "createRuntime", "createContainer", "startContainer")


def run(kind, hooks, state):
    """Run each hook of ``kind`` in order, giving it ``state`` (a dict) as JSON on stdin.

    Raises CartonError for a fatal kind; for the others returns a list of warnings.
    """
    warnings = []
    for hook in hooks:
        problem = _run_one(hook, state)
        if problem:
            message = f"{kind} hook {hook.path}: {problem}"
            if kind in FATAL:
                raise CartonError(message, 1)
            warnings.append(message)
    return warnings


def _run_one(hook, state):
    import subprocess  # only containers with hooks pay for it

    env = dict(entry.split("=", 1) for entry in hook.env if "=" in entry)
    try:
        proc = subprocess.Popen(hook.args or [hook.path], executable=hook.path, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, close_fds=True)
    except OSError as e:
        return f"cannot run: {e.strerror}"
    try:
        _, err = proc.communicate(jsonc.dumps(state).encode(), timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"timed out after {hook.timeout}s"
    if proc.returncode:
        detail = err.decode(errors="replace").strip().splitlines()
        return f"exited with status {proc.returncode}" + (f": {detail[-1]}" if detail else "")
    return None


def state_for(record, status, pid=None):
    """The runtime-spec state a hook reads on stdin."""
    return {"ociVersion": record.get("ociVersion", "1.2.0"), "id": record["id"],
            "status": status, "pid": pid if pid is not None else record.get("pid", 0),
            "bundle": record.get("bundle", ""), "annotations": record.get("annotations") or {}}


def from_record(record, kind):
    """The hooks of ``kind`` stored in a state record (so ``delete`` needs no config.json)."""
    from ..spec.model import Hook

    return [Hook(h["path"], h.get("args", ()), h.get("env", ()), h.get("timeout"))
            for h in (record.get("hooks") or {}).get(kind, [])]
