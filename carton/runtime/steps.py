"""A setup step: a name, a one-line why, and the function that does it.

The init runs a list of these in order (see ``init.py``). Because the steps
are data, ``--explain`` can narrate them as they run, and an error can say
which step failed.
"""

from .. import explain


class Step:
    __slots__ = ("title", "why", "action")

    def __init__(self, title, why, action):
        self.title = title
        self.why = why
        self.action = action

    def run(self, ctx):
        explain.step(self.title, self.why)
        self.action(ctx)


class StepFailed(Exception):
    """A step raised: remembers which one, so the message can name it."""

    def __init__(self, step, error):
        super().__init__(step.title, error)
        self.step = step
        self.error = error


def run_steps(steps, ctx):
    for step in steps:
        try:
            step.run(ctx)
        except Exception as e:
            raise StepFailed(step, e) from e
