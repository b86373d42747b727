"""A pytest plugin for the guest: one JSON line per test, written as soon as the test is over.

``boot.py`` runs the guest's pytest with ``-p guest_report`` and
``CARTON_VM_REPORT=/run/carton-vm/results/report.jsonl``; the host reads the file back
(``boot.read_reports``) and turns every line into the result of a host test.

A line is ``{"nodeid", "outcome", "longrepr", "duration"}`` with ``outcome`` one of
``passed failed error skipped xfailed xpassed``. A ``{"nodeid", "outcome": "running"}``
line comes first, so if the guest dies in a test, the host can say which one. Collection
errors are lines with ``"when": "collect"`` and the module's node id.
"""

import json
import os

_file = None
_phases = {}


def _write(record):
    global _file
    if _file is None:
        _file = open(os.environ["CARTON_VM_REPORT"], "a")  # open for the whole session
    _file.write(json.dumps(record) + "\n")
    _file.flush()
    os.fsync(_file.fileno())


def _text(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        return report.longrepr[2]
    text = report.longreprtext or ""
    for title, content in report.sections:
        text += f"\n{'-' * 20} {title} {'-' * 20}\n{content}"
    return text


def pytest_runtest_logstart(nodeid, location):
    _phases[nodeid] = []
    _write({"nodeid": nodeid, "outcome": "running"})


def pytest_runtest_logreport(report):
    _phases.setdefault(report.nodeid, []).append(report)
    if report.when == "teardown":
        _write(_summary(report.nodeid, _phases.pop(report.nodeid)))


def pytest_collectreport(report):
    if report.failed:
        _write({"nodeid": report.nodeid, "outcome": "error", "when": "collect",
                "longrepr": _text(report), "duration": 0.0})


def _summary(nodeid, reports):
    outcome, texts = "passed", []
    for r in reports:
        wasxfail = getattr(r, "wasxfail", None)
        if r.failed:
            if r.when == "call":
                outcome = "failed"
            elif outcome != "failed":
                outcome = "error"
            texts.append(f"[{r.when}] {_text(r)}" if r.when != "call" else _text(r))
        elif r.skipped and outcome == "passed":
            outcome = "xfailed" if wasxfail is not None else "skipped"
            texts.append(wasxfail if wasxfail else _text(r))
        elif r.when == "call" and r.passed and wasxfail is not None:
            outcome = "xpassed"
            texts.append(wasxfail)
    return {"nodeid": nodeid, "outcome": outcome, "longrepr": "\n".join(t for t in texts if t),
            "duration": sum(r.duration for r in reports)}
