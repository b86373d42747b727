"""``carton``: global flags, then dispatch to a verb.

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
    Option("--debug", "show tracebacks for internal errors"),
    Option("-v,--version", "print the version"),
    Option("-h,--help", "show this help"),
]

VERBS = {
    "run": ("carton.cli.run", "run a command in a new container"),
    "rootfs": ("carton.cli.rootfs", "build a root filesystem (carton rootfs busybox DIR)"),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    debug = False
    try:
        values, rest = parse(argv, GLOBAL_OPTIONS)
        debug = values["debug"]
        return _dispatch(values, rest)
    except CartonError as e:
        _error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # an internal error: one line, unless --debug
        if debug:
            import traceback

            traceback.print_exc()
        _error(f"internal error: {type(e).__name__}: {e}" + ("" if debug else
                                                             " (--debug for details)"))
        return EXIT_CARTON


def _dispatch(values, rest):
    if values["version"]:
        print(f"carton version {__version__}")
        return 0
    if values["help"] or not rest:
        lines = [usage("carton [GLOBAL OPTIONS] VERB [ARGS...]\n       carton ROOTFS COMMAND [ARG...]",
                       "Carton: a Linux container runtime you can read.", GLOBAL_OPTIONS),
                 "Verbs:"]
        lines += [f"  {verb:<28} {text}" for verb, (_, text) in VERBS.items()]
        sys.stdout.write("\n".join(lines) + "\n")
        return 0 if values["help"] else EXIT_CARTON
    from ..runtime.state import DEFAULT_ROOT

    root = os.path.abspath(values["root"] or DEFAULT_ROOT)
    verb, args = rest[0], rest[1:]
    if verb not in VERBS and "/" in verb:
        verb, args = "run", rest  # the short form: carton ROOTFS COMMAND
    if verb not in VERBS:
        raise UsageError(f"unknown command {verb!r} (see carton --help)")
    import importlib

    return importlib.import_module(VERBS[verb][0]).main(args, root)


def _error(message):
    sys.stderr.write(f"carton: {message}\n")
    sys.stderr.flush()
