"""nftables: the kernel's packet filter and NAT, driven through libnftables. libnftables(3), nft(8).

The kernel's nf_tables is programmed over netlink with a bytecode of its own
(registers, payload loads, lookups). Rather than assemble that ourselves, we
hand text in the language of nft(8) to libnftables, the library the ``nft``
command is built on: it parses the text, compiles it and sends the whole
buffer to the kernel as ONE netlink batch, which the kernel applies as a
transaction: every command in the buffer takes effect, or none does. Carton
relies on that to change its rules without a moment in which they are half
made.

Two entry points: :func:`run` applies commands, :func:`list_json` reads
(``list ...`` with JSON output, which is meant for programs; the text output
is meant for people and changes between versions). The library is loaded the
first time it is needed, because only bridge networking needs it.
Constants from <nftables/libnftables.h> (libnftables 1.0.6).
"""

import ctypes

from .. import explain
from ..errors import CartonError

NFT_CTX_DEFAULT = 0
NFT_CTX_OUTPUT_JSON = 1 << 4


class NftError(CartonError):
    """nft refused a command; the message is nft's own, on one line."""


_lib = None


def _libnftables():
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        except OSError:
            raise CartonError("bridge networking needs nftables' library, libnftables.so.1, "
                              "which is not installed (apt-get install libnftables1)") from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.restype = None
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, name).restype = ctypes.c_int
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, name).restype = ctypes.c_char_p  # copied into a bytes object
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.restype = None
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _lib = lib
    return _lib


def _new_context(lib, output_flags=0):
    """A fresh nft context whose output and errors go to buffers. nft_ctx_new, libnftables(3).

    Why: by default libnftables prints to the process's stdout and stderr;
    buffering lets us put nft's message into our own error instead. One
    context per call keeps nothing (a netlink socket, a rule cache) alive
    across the forks the runtime makes.
    """
    ctx = lib.nft_ctx_new(NFT_CTX_DEFAULT)
    if not ctx:
        raise CartonError("nft_ctx_new failed: cannot make an nftables context")
    if lib.nft_ctx_buffer_output(ctx) or lib.nft_ctx_buffer_error(ctx):
        lib.nft_ctx_free(ctx)
        raise CartonError("nft_ctx_buffer_output failed: cannot capture nftables' output")
    if output_flags:
        lib.nft_ctx_output_set_flags(ctx, output_flags)
    return ctx


def _execute(commands, output_flags=0):
    """Run ``commands`` (nft syntax, one per line) in one transaction; return nft's output."""
    lib = _libnftables()
    ctx = _new_context(lib, output_flags)
    try:
        if lib.nft_run_cmd_from_buffer(ctx, commands.encode()) != 0:
            raise NftError(one_line(lib.nft_ctx_get_error_buffer(ctx) or b"", commands))
        return (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
    finally:
        lib.nft_ctx_free(ctx)


def run(commands, narrate=None):
    """Apply nft ``commands`` atomically: all of them, or none. nft_run_cmd_from_buffer, libnftables(3).

    Why: Carton's firewall changes are small batches (make the table if
    needed, then add an element); one transaction means another process
    never sees, and a crash never leaves, half of a batch. Raises
    :class:`NftError` with nft's message, on one line, when nft refuses.
    ``narrate``: the lines ``--explain`` shows instead of every command (a
    long, repeated declaration can be told in one line).
    """
    if explain.enabled():
        lines = [line.strip() for line in commands.strip().splitlines() if line.strip()]
        shown = lines if narrate is None else narrate
        explain.call("nft_run_cmd_from_buffer", explain.Raw("ctx"),
                     explain.Raw(f"<{len(lines)} nft commands, one transaction>"))
        for line in shown:
            explain.note(f"  {line}")
    return _execute(commands)


def list_json(what):
    """The objects ``nft list WHAT`` shows, as parsed JSON (the list under "nftables"). libnftables-json(5).

    Why: Carton reads its own table back (which networks and ports are in
    it, who owns a port) from the kernel rather than from a file of its
    own, so what it reports is what is really applied. ``what`` is e.g.
    ``"tables ip"`` or ``"table ip carton"``; a missing table is an NftError.
    """
    from .. import jsonc

    text = _execute(f"list {what}", NFT_CTX_OUTPUT_JSON)
    return jsonc.loads(text).get("nftables", []) if text.strip() else []


def one_line(error_buffer, commands=""):
    """nft's error report as one line: ``nftables: MESSAGE (in: COMMAND)``.

    nft prints ``Error: MESSAGE``, then the command it refers to, then a line
    of ``^^^`` under the offending part; a batch may hold several reports.
    libnftables 1.0.6 shows the FIRST line of a buffer there, whichever line
    failed, so the command is named only when the buffer held just one.
    """
    text = error_buffer.decode(errors="replace") if isinstance(error_buffer, bytes) else error_buffer
    messages = [line.split("Error: ", 1)[1].strip() for line in text.splitlines() if "Error: " in line]
    message = "; ".join(messages) or text.strip() or "the command failed"
    lines = [line.strip() for line in commands.splitlines() if line.strip()]
    if len(lines) == 1:
        message += f" (in: {lines[0]})"
    return "nftables: " + message
