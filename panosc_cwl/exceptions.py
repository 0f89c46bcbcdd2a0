"""All errors panosc-cwl raises on purpose.

Every error a user can cause is a :class:`PanoscError`; the CLI prints it as one line
(``panosc-cwl: error: ...``) and exits with :attr:`PanoscError.exit_code`, without a traceback.
"""

from __future__ import annotations


class PanoscError(Exception):
    """Base class: a problem the user can fix, reported in one line."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, location: str | None = None):
        self.field = field
        self.location = location
        super().__init__(message)

    def one_line(self) -> str:
        """The message as the CLI prints it: ``location: field: message`` on a single line."""
        parts = [p for p in (self.location, self.field) if p]
        text = ": ".join(parts + [str(self)])
        return " ".join(text.split("\n"))


class InputError(PanoscError):
    """A user-supplied input (file, dataset path, parameter value) is missing or invalid."""


class OutputExistsError(PanoscError):
    """Writing would overwrite an existing file the user has not allowed us to replace."""


class RunnerError(PanoscError):
    """A workflow runner (cwltool, toil-cwl-runner) failed or could not be started."""

    exit_code = 1
