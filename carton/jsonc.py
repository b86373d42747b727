"""JSON on the hot path, through the C accelerator that ``json`` itself uses, without ``json``.

``import json`` costs about 6 ms: its pure-Python layer imports ``re``, and
``re`` imports ``enum``. Every ``carton create`` reads config.json and writes
state.json, so that is a fifth of a container's start-up. The parsing and
encoding are done by the C module ``_json`` anyway; here we call it directly.

On malformed input we hand the text to the real ``json`` module, only to get
its exact error message (with line and column): errors may be slow.
"""

import _json

_WHITESPACE = " \t\n\r"


class _Options:
    """What ``_json.make_scanner`` reads from a decoder: json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__
    memo = {}


_scan = _json.make_scanner(_Options())
# markers, default, encoder, indent, key separator, item separator, sort_keys, skipkeys, allow_nan
_encode = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ": ", ", ",
                             False, False, True)


def loads(text):
    """``json.loads`` for a str."""
    start = _skip(text, 0)
    try:
        value, end = _scan(text, start)
    except (StopIteration, SystemError, ValueError):
        # StopIteration: nothing parsable at all. SystemError: the C scanner wanted to
        # raise json.JSONDecodeError, which exists only once ``json`` is imported.
        return _stdlib_error(text)
    if _skip(text, end) != len(text):
        return _stdlib_error(text)
    return value


def dumps(value):
    """``json.dumps`` with default options (no indent)."""
    return "".join(_encode(value, 0))


def quote(text):
    """A str as a JSON string literal, non-ASCII kept as it is (json.dumps, ensure_ascii=False)."""
    return _json.encode_basestring(text)


def _skip(text, i):
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _stdlib_error(text):
    import json

    return json.loads(text)  # raises json.JSONDecodeError, a ValueError, with the position
