"""A small command-line parser with docker's and runc's conventions.

Why not argparse: it costs ~9 ms to import (most of a container's start-up
budget), and docker-style commands want two things it makes awkward: options
end at the first positional argument (so ``carton run ROOTFS sh -c ...``
never parses the command's own ``-c``), and short flags combine (``-it``).

Supported spellings: ``-e X``, ``-eX``, ``--env X``, ``--env=X``, ``-it``, ``--``.
"""

from ..errors import CartonError


class Option:
    """One option: its spellings, whether it takes a value, whether it may repeat."""

    __slots__ = ("names", "dest", "value", "many", "help", "metavar")

    def __init__(self, names, help, value=False, many=False, metavar=None, dest=None):
        self.names = names.split(",")
        self.dest = dest or self.names[-1].lstrip("-").replace("-", "_")
        self.value = value
        self.many = many
        self.help = help
        self.metavar = metavar or (self.dest.upper() if value else None)


class UsageError(CartonError):
    """Bad command-line usage: exit 125 for the friendly verbs (as docker), 1 for runc's."""


def parse(argv, options, exit_code=125, interspersed=False):
    """Parse ``argv``; return ``(values, positionals)``.

    ``values`` maps each option's ``dest`` to its value: False/True for flags,
    the string (or None) for a single value, a list for a repeatable one.
    Parsing stops at the first positional unless ``interspersed``.
    """
    by_name = {name: opt for opt in options for name in opt.names}
    values = {opt.dest: ([] if opt.many else (None if opt.value else False)) for opt in options}
    positionals = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positionals.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            opt = by_name.get(name)
            if opt is None:
                raise UsageError(f"unknown flag: {name}", exit_code)
            if opt.value:
                if eq:
                    value = inline
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: {name}", exit_code)
                _store(values, opt, value)
            elif eq:
                _store(values, opt, _boolean(name, inline, exit_code))
            else:
                _store(values, opt, True)
        elif arg.startswith("-") and len(arg) > 1:
            # A cluster of short flags; the first that takes a value eats the rest.
            j = 1
            while j < len(arg):
                name = "-" + arg[j]
                opt = by_name.get(name)
                if opt is None:
                    raise UsageError(f"unknown shorthand flag: {arg[j]!r} in {arg}", exit_code)
                j += 1
                if opt.value:
                    if j < len(arg):
                        value = arg[j:].removeprefix("=")
                    elif i < len(argv):
                        value = argv[i]
                        i += 1
                    else:
                        raise UsageError(f"flag needs an argument: {name}", exit_code)
                    _store(values, opt, value)
                    break
                _store(values, opt, True)
        else:
            positionals.append(arg)
            if not interspersed:
                positionals.extend(argv[i:])
                break
    return values, positionals


def _store(values, opt, value):
    if opt.many:
        values[opt.dest].append(value)
    else:
        values[opt.dest] = value


def _boolean(name, text, exit_code):
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise UsageError(f"invalid boolean value {text!r} for {name}", exit_code)


def usage(synopsis, description, options):
    """Help text: the synopsis, one line of description, and the options table."""
    lines = [f"Usage: {synopsis}", "", description, "", "Options:"]
    for opt in options:
        spelled = ", ".join(opt.names) + (f" {opt.metavar}" if opt.value else "")
        lines.append(f"  {spelled:<28} {opt.help}")
    return "\n".join(lines) + "\n"
