"""The few C types and the libc calls Carton's hot path needs, made from ``_ctypes``.

``import ctypes`` costs about 2 ms, on every container start: its
``__init__.py`` defines some forty C types and function-pointer classes,
byte-order variants of ``Structure``, a handle on the Python API, and more
(creating a class is slow in CPython: each one sets up every special
method's slot). Carton's syscall wrappers need ten of those types. This
module builds them from ``_ctypes``, the C module that ``ctypes`` itself is
made of, in the same way ``ctypes`` does, so its objects and ``ctypes``'
are interchangeable (a ``byref`` of one can go to a function of the other).
It is the same trade as ``jsonc`` for ``json``, ``_socket`` for ``socket``
and ``_signal`` for ``signal`` (docs/architecture.md, "start-up").

Modules off the hot path (libseccomp's compiler, bpf(2), libnftables) use
``ctypes`` itself.
"""

import _ctypes
from _ctypes import POINTER, Structure, byref, get_errno, sizeof  # noqa: F401  (re-exported)


# Each C type is a subclass of _SimpleCData whose _type_ is a struct-module code.
class c_int(_ctypes._SimpleCData):
    _type_ = "i"


class c_uint(_ctypes._SimpleCData):
    _type_ = "I"


class c_ushort(_ctypes._SimpleCData):
    _type_ = "H"


class c_long(_ctypes._SimpleCData):
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):
    _type_ = "L"


class c_char_p(_ctypes._SimpleCData):
    _type_ = "z"


c_uint32 = c_uint
c_uint64 = c_ulong  # Linux on 64-bit machines is LP64: a long is 64 bits


class _Function(_ctypes.CFuncPtr):
    """A C function that returns an int and whose errno we keep (``use_errno``)."""

    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class Library:
    """A shared library; its functions are attributes, looked up once (``ctypes.CDLL``).

    ``Library(None)`` is the running program with everything it links: libc.
    """

    def __init__(self, name=None):
        self._handle = _ctypes.dlopen(name, _ctypes.RTLD_LOCAL)  # the C side adds RTLD_NOW

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        function = _Function((name, self))  # dlsym(self._handle, name)
        setattr(self, name, function)
        return function
