"""``carton``: global flags, then dispatch to a verb.

Two families of verbs share one command: the friendly ``run`` (docker's
options, a root filesystem and a command) and ``rootfs``, and the
runc-compatible verbs engines call (``create``, ``start``, ``state``,
``kill``, ``delete``, ``exec`` ...; see ``oci.py``). ``carton run`` is
runc's ``run ID`` when given runc's flags or a single id, docker's otherwise.
``carton ROOTFS COMMAND...`` (a first argument containing ``/``) is the
original short form of ``carton run ROOTFS COMMAND...``.
"""

import os
import sys

from .. import __version__
from ..errors import EXIT_CARTON, CartonError
from .args import Option, UsageError, parse, usage

GLOBAL_OPTIONS = [
    Option("--root", "directory for container state (default /run/carton)", value=True),
    Option("--log", "also write errors and warnings to FILE", value=True, metavar="FILE"),
    Option("--log-format", "text or json (runc's JSON lines, as containerd reads them)",
           value=True, metavar="FORMAT"),
    Option("--debug", "show tracebacks for internal errors"),
    Option("--systemd-cgroup", "use systemd to manage cgroups (not supported yet)"),
    Option("--rootless", "true, false or auto: run without root (not supported yet)",
           value=True, metavar="MODE"),
    Option("--criu", "accepted for compatibility (checkpointing is not supported)", value=True),
    Option("-v,--version", "print the version"),
    Option("-h,--help", "show this help"),
]

FRIENDLY = {
    "run": ("carton.cli.run", "run a command in a new container (docker's options)"),
    "rootfs": ("carton.cli.rootfs", "build a root filesystem (carton rootfs busybox DIR)"),
    "network": ("carton.cli.network", "manage networks: create, ls, inspect, rm, prune"),
}
OCI_HELP = ("create start state kill delete run exec ps list pause resume events update "
            "spec features")


def entry():
    """The ``carton`` command: run ``main``, then leave without the interpreter's teardown.

    Tearing down a Python interpreter (freeing every object and module) takes
    a few milliseconds that a container runtime's caller waits for and nobody
    needs: every file we wrote is closed already. So flush stdio and _exit.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    from .. import codecache

    codecache.save_if_stale()  # after the output: the caller may read it meanwhile
    os._exit(code)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    debug = False
    runc_style = False
    try:
        values, rest = parse(argv, GLOBAL_OPTIONS)
        debug = values["debug"]
        if values["log"]:
            from .. import log

            log.configure(values["log"], values["log_format"])
        if values["log_format"] not in (None, "text", "json"):
            raise UsageError(f"invalid --log-format {values['log_format']!r}: use text or json", 1)
        runc_style = _is_runc_verb(rest)
        return _dispatch(values, rest)
    except CartonError as e:
        # runc's verbs fail with 1, whatever failed; the friendly ones with docker's codes.
        code = 1 if runc_style else e.exit_code
        _error(str(e))
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # an internal error: one line, unless --debug
        if debug:
            import traceback

            traceback.print_exc()
        _error(f"internal error: {type(e).__name__}: {e}" + ("" if debug else
                                                             " (--debug for details)"))
        return 1 if runc_style else EXIT_CARTON


def _is_runc_verb(rest):
    if not rest:
        return False
    if rest[0] == "run":
        from .oci import is_oci_run

        return is_oci_run(rest[1:])
    from .oci import VERBS

    return rest[0] in VERBS


def _dispatch(values, rest):
    if values["version"]:
        from ..spec.model import OCI_VERSION

        print(f"carton version {__version__}\nspec: {OCI_VERSION}")
        return 0
    if values["help"] or not rest:
        lines = [usage("carton [GLOBAL OPTIONS] VERB [ARGS...]\n       carton ROOTFS COMMAND [ARG...]",
                       "Carton: a Linux container runtime you can read.", GLOBAL_OPTIONS),
                 "Verbs:"]
        lines += [f"  {verb:<28} {text}" for verb, (_, text) in FRIENDLY.items()]
        lines.append(f"  runc-compatible: {OCI_HELP}")
        sys.stdout.write("\n".join(lines) + "\n")
        return 0 if values["help"] else EXIT_CARTON
    if values["systemd_cgroup"]:
        raise CartonError("--systemd-cgroup is not supported yet: use the cgroupfs driver", 1)
    if values["rootless"] not in (None, "false", "auto"):
        raise CartonError("--rootless: rootless containers are not supported yet", 1)
    from ..runtime.state import DEFAULT_ROOT

    root = os.path.abspath(values["root"] or DEFAULT_ROOT)
    verb, args = rest[0], rest[1:]
    if verb not in FRIENDLY and "/" in verb:
        verb, args = "run", rest  # the short form: carton ROOTFS COMMAND
    if _is_runc_verb([verb, *args]):
        from . import oci

        return oci.run(args, root) if verb == "run" else oci.VERBS[verb](args, root)
    if verb not in FRIENDLY:
        raise UsageError(f"unknown command {verb!r} (see carton --help)")
    # __import__ rather than importlib.import_module: the importlib package costs ~0.8 ms.
    return __import__(FRIENDLY[verb][0], fromlist=["main"]).main(args, root)


def _error(message):
    from .. import log

    log.error(message)  # stderr, and the --log file if there is one
