"""All of Carton's compiled modules in one file, so that starting a container imports faster.

How Python imports ``carton.runtime.create``: a finder looks along the
package's path (listing directories, trying each suffix a module may have),
a loader works out where the cached bytecode lives, checks the source's
modification time against it (stat), opens and reads the ``.pyc``, checks its
header, unmarshals the code and runs it. That is done in Python code
(``importlib``), and for the fifty-odd modules ``carton run`` needs it costs
about 10% of a container's start, before a single module's code has run.

``bin/carton`` calls :func:`install` first. It reads one file, which holds
every module's compiled code (the same bytes a ``.pyc`` holds) with the size
and modification time of the source it came from, and puts a finder in front
of Python's own (``sys.meta_path``). Importing a Carton module is then one
stat(2) of its source, to check that the code is still that source's, and
unmarshalling the code. A module whose source changed, or that is not in the
file, is imported the usual way: the cache can be stale, never wrong.

The file is written at the end of a command that found it missing or stale
(:func:`save_if_stale`, called by ``bin/carton``), from the ``.pyc`` files that
Python itself keeps up to date, next to them (``__pycache__``, or under
``PYTHONPYCACHEPREFIX``); never when Python may not write bytecode
(``PYTHONDONTWRITEBYTECODE``, ``-B``).
"""

import marshal
import os
import sys

# importlib's own functions, already loaded at start-up (importing importlib.util costs more).
_bootstrap = sys.modules["_frozen_importlib"]
_external = sys.modules["_frozen_importlib_external"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_VERSION = 1


def _cache_file():
    """Where the file lives: beside the package's own ``.pyc`` files."""
    init_pyc = _external.cache_from_source(os.path.join(_PACKAGE_DIR, "__init__.py"))
    return os.path.join(os.path.dirname(init_pyc), f"codecache.{sys.implementation.cache_tag}.bin")


class _Finder:
    """A finder and loader for the modules in the file (importlib's two protocols)."""

    def __init__(self, modules):
        self.modules = modules  # name -> (source path, mtime_ns, size, is package, code bytes)
        self.missed = False     # a module of ours was imported the usual way

    def find_spec(self, name, path=None, target=None):
        if not name.startswith("carton."):
            return None
        entry = self.modules.get(name)
        if entry is not None:
            source, mtime_ns, size, is_package, _ = entry
            try:
                st = os.stat(source)
            except OSError:
                st = None
            if st is not None and st.st_mtime_ns == mtime_ns and st.st_size == size:
                spec = _bootstrap.ModuleSpec(name, self, origin=source, is_package=is_package)
                spec.has_location = True  # so that the module gets its __file__
                if is_package:
                    spec.submodule_search_locations = [os.path.dirname(source)]
                return spec
        self.missed = True
        return None

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        code = marshal.loads(self.modules[module.__spec__.name][4])
        exec(code, module.__dict__)


_finder = None


def install():
    """Put the cache's finder in front of Python's, if there is a cache file that fits."""
    global _finder
    try:
        with open(_cache_file(), "rb") as f:
            data = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        data = None
    if not (isinstance(data, dict) and data.get("version") == _VERSION
            and data.get("magic") == _external.MAGIC_NUMBER):
        data = {"modules": {}}
    _finder = _Finder(data["modules"])
    sys.meta_path.insert(0, _finder)


def save_if_stale():
    """Write the file again if this command imported one of our modules the usual way."""
    if _finder is None or not _finder.missed or sys.dont_write_bytecode:
        return
    try:
        build()
    except OSError:
        pass  # a read-only install: imports stay the usual way


def build():
    """Gather every module whose ``.pyc`` is up to date, and write the file (atomically)."""
    modules = {}
    for top, dirs, files in os.walk(_PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            source = os.path.join(top, name)
            entry = _compiled(source)
            if entry is None:
                continue
            parts = os.path.relpath(source[:-3], os.path.dirname(_PACKAGE_DIR)).split(os.sep)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = entry[:3] + (is_package, entry[3])
    path = _cache_file()
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(marshal.dumps({"version": _VERSION, "magic": _external.MAGIC_NUMBER,
                               "modules": modules}))
    os.rename(tmp, path)


def _compiled(source):
    """(source, mtime_ns, size, code bytes) from the source's ``.pyc``, if it is up to date.

    A ``.pyc`` is a 16-byte header (magic number, flags, the source's mtime
    in seconds and its size, 32 bits each) and the marshalled code.
    """
    try:
        st = os.stat(source)
        with open(_external.cache_from_source(source), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if (len(data) < 16 or data[:4] != _external.MAGIC_NUMBER or data[4:8] != b"\0\0\0\0"
            or int.from_bytes(data[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF
            or int.from_bytes(data[12:16], "little") != st.st_size & 0xFFFFFFFF):
        return None
    return source, st.st_mtime_ns, st.st_size, data[16:]
