"""The command-line parser: docker's spellings, and options ending at the first positional."""

import pytest

from carton.cli.args import Option, UsageError, parse

OPTIONS = [Option("-e,--env", "", value=True, many=True), Option("-i,--interactive", ""),
           Option("-t,--tty", ""), Option("-w,--workdir", "", value=True), Option("--rm", "")]


def test_spellings():
    values, rest = parse(["-eA=1", "-e", "B=2", "--env", "C=3", "--env=D=4", "-it", "-w/x", "--rm",
                          "ROOT", "sh", "-c", "-e"], OPTIONS)
    assert values == {"env": ["A=1", "B=2", "C=3", "D=4"], "interactive": True, "tty": True,
                      "workdir": "/x", "rm": True}
    assert rest == ["ROOT", "sh", "-c", "-e"]


def test_cluster_with_value():
    values, _ = parse(["-itw", "/dir", "R"], OPTIONS)
    assert values["workdir"] == "/dir" and values["tty"]


def test_double_dash_and_booleans():
    values, rest = parse(["--rm=false", "--", "-i"], OPTIONS)
    assert values["rm"] is False and rest == ["-i"]


@pytest.mark.parametrize("argv, message", [
    (["--nope"], "unknown flag: --nope"), (["-x"], "unknown shorthand flag"),
    (["-e"], "needs an argument"), (["--workdir"], "needs an argument"),
    (["--rm=maybe"], "invalid boolean"),
])
def test_errors(argv, message):
    with pytest.raises(UsageError, match=message) as info:
        parse(argv, OPTIONS)
    assert info.value.exit_code == 125
