"""carton/codecache.py: compiled modules from one file, never a stale one."""

import marshal
import os
import subprocess
import sys

from carton import codecache

NAME = "carton._codecache_test_module"


def _finder_for(source):
    st = os.stat(source)
    code = compile(open(source).read(), source, "exec")
    return codecache._Finder({NAME: (str(source), st.st_mtime_ns, st.st_size, False,
                                     marshal.dumps(code))})


def _import_with(finder):
    sys.meta_path.insert(0, finder)
    try:
        spec = finder.find_spec(NAME)
        if spec is None:
            return None
        module = type(sys)(NAME)
        module.__spec__ = spec
        finder.exec_module(module)
        return module
    finally:
        sys.meta_path.remove(finder)


def test_a_module_comes_from_the_cache_while_its_source_is_unchanged(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("VALUE = 1\n")
    finder = _finder_for(source)
    module = _import_with(finder)
    assert module.VALUE == 1 and not finder.missed
    spec = finder.find_spec(NAME)
    assert spec.origin == str(source) and spec.loader is finder and spec.has_location


def test_a_changed_source_is_imported_the_usual_way(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("VALUE = 1\n")
    finder = _finder_for(source)
    source.write_text("VALUE = 22\n")  # another size (and, usually, mtime)
    assert finder.find_spec(NAME) is None and finder.missed


def test_a_source_that_is_gone_or_not_in_the_cache(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("VALUE = 1\n")
    finder = _finder_for(source)
    os.unlink(source)
    assert finder.find_spec(NAME) is None
    assert finder.find_spec("carton.not_in_the_cache") is None
    assert finder.find_spec("json") is None  # not ours: never looked at


def test_the_launcher_writes_the_cache_and_the_next_start_uses_it(tmp_path):
    """Through bin/carton as installed, with a bytecode directory of the test's own."""
    carton = os.path.join(os.path.dirname(sys.executable), "carton")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path)
    for _ in range(2):  # the first start writes the .pyc files, then the cache from them
        subprocess.run([carton, "--root", str(tmp_path / "state"), "list"], env=env, check=True,
                       capture_output=True)
    probe = ("import sys; from carton import codecache; codecache.install(); "
             "import carton.cli.oci as m; "
             "print(type(m.__loader__).__name__, m.__file__, codecache._finder.missed)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    assert out[0] == "_Finder" and out[1].endswith("carton/cli/oci.py") and out[2] == "False"
    cache = [f for _, _, files in os.walk(tmp_path) for f in files if f.endswith(".bin")]
    assert cache == [f"codecache.{sys.implementation.cache_tag}.bin"]


def test_nothing_is_written_where_python_may_not_write_bytecode(tmp_path):
    carton = os.path.join(os.path.dirname(sys.executable), "carton")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(tmp_path))
    subprocess.run([carton, "--root", str(tmp_path / "state"), "list"], env=env, check=True,
                       capture_output=True)
    assert not any(f.endswith((".pyc", ".bin")) for _, _, files in os.walk(tmp_path) for f in files)
