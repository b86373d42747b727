"""Sizes, CPU counts and CPU lists as people type them: ``512m``, ``1.5g``, ``--cpus 1.5``, ``0-2,4``.

docker and runc read memory sizes with one rule (``RAMInBytes`` in docker's
go-units package; our own code, written from its documented behaviour):

* a number, whole or with a fraction: ``512``, ``1.5``;
* then, optionally after one space, a unit: ``k``, ``m``, ``g``, ``t``,
  ``p``, each 1024 times the one before it (``1k`` is 1024 bytes, not
  1000), case-insensitive;
* then, optionally, ``i`` (after a unit) and ``b``: ``1kb``, ``1KiB``,
  ``1MB`` and ``1m`` are all the same 1024-based amount, and ``100b`` is
  100 bytes.

The result is a whole number of bytes, with the fraction dropped
(``1.5k`` is 1536, ``0.3k`` is 307). Exact arithmetic is used, so large
plain numbers are not rounded through a float: a decimal number is kept as
a numerator and a power of ten (``fractions`` would do, but importing it
costs ~5 ms: it brings ``decimal``, ``re`` and ``enum``).

This module is pure (no file, no syscall), so it is unit-tested in full.
"""

UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
MAX_INT64 = 2**63 - 1
NANO = 10**9


class UnitError(ValueError):
    """A value that cannot be read. The message says what was expected, without naming the
    flag: callers say ``invalid --memory: <message>``."""


def ram_in_bytes(text):
    """``"512m"`` -> 536870912; raise :class:`UnitError` for anything else (``-1`` included)."""
    (numerator, denominator), unit = _split_size(text)
    value = numerator * UNITS[unit] // denominator
    if value > MAX_INT64:
        raise UnitError(f"{text!r} is too large")
    return value


def _split_size(text):
    """The number (see ``_decimal``) and the unit letter (``""`` for none) of a size."""
    error = f"{text!r} is not a size: expected a number and an optional unit, like 512m or 1.5g"
    if not isinstance(text, str) or not text.isascii():
        raise UnitError(error)
    rest = text.lower()
    # The optional suffixes, from the end: "b", then "i" (which needs a unit before it).
    if rest.endswith("b"):
        rest = rest[:-1]
    unit = ""
    if rest.endswith("i"):
        rest = rest[:-1]
        if rest[-1:] not in ("k", "m", "g", "t", "p"):
            raise UnitError(error)
    if rest[-1:] in ("k", "m", "g", "t", "p"):
        unit, rest = rest[-1], rest[:-1]
    if rest.endswith(" "):
        rest = rest[:-1]  # one space between the number and its unit, as docker allows
    return _decimal(rest, error), unit


def _decimal(digits, error):
    """A non-negative decimal number (``12``, ``1.5``) exactly, as (numerator, denominator):
    ``"1.5"`` is ``(15, 10)``. Anything else raises ``UnitError(error)``."""
    whole, dot, fraction = digits.partition(".")
    if not (whole + fraction).isascii() or not whole.isdigit() or (dot and not fraction.isdigit()):
        raise UnitError(error)
    return int(whole + fraction), 10 ** len(fraction)


def memory_value(text):
    """A memory flag's value as runc's ``update`` takes it: ``-1`` (no limit), or a size."""
    if isinstance(text, str) and text.strip() == "-1":
        return -1
    return ram_in_bytes(text)


def nano_cpus(text):
    """``--cpus 1.5`` -> 1500000000: CPUs in billionths, as docker keeps them (``NanoCPUs``).

    More than nine decimal places is an error (docker: "value is too precise").
    """
    error = f"{text!r} is not a number of CPUs like 1.5"
    if not isinstance(text, str):
        raise UnitError(error)
    numerator, denominator = _decimal(text.strip(), error)
    if numerator * NANO % denominator:
        raise UnitError(f"{text!r} is too precise (at most 9 decimal places)")
    return numerator * NANO // denominator


def cpu_list(text):
    """Check a cpuset list (``0-2,4``: numbers and ascending ranges, comma-separated) and
    return it as given. The kernel decides whether the CPUs or memory nodes exist."""
    error = f"{text!r} is not a list of numbers and ranges like 0-2,4"
    if not isinstance(text, str) or not text.isascii() or not text:
        raise UnitError(error)
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise UnitError(error)
        if dash and int(last) < int(first):
            raise UnitError(f"{text!r}: the range {part} goes backwards")
    return text


def integer(text):
    """A whole number, possibly negative (``-1``), in plain digits."""
    stripped = text.strip() if isinstance(text, str) else ""
    digits = stripped[1:] if stripped.startswith("-") else stripped
    if not digits.isdigit() or not digits.isascii():
        raise UnitError(f"{text!r} is not a whole number")
    return int(stripped)

