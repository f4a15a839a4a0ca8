"""One exception tree for the whole platform.

Every error a user can cause derives from :class:`NasError`; its message says what is
wrong and what to do next. The CLI prints the message on one line and exits non-zero.
"""

from string import Formatter


def first_line(exc: BaseException) -> str:
    """The first non-blank line of ``exc``'s message, stripped and at most 400 characters
    (the exception's type name when it has none): what a one-line report quotes of a
    library's multi-line error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:400]


class NasError(Exception):
    """Base of every error the platform raises on purpose."""


class GrammarError(NasError):
    """A grammar file is missing, malformed, or uses an unregistered op."""


class ArchitectureError(NasError):
    """An architecture string does not parse or does not type-check for an input shape."""


class SamplingError(NasError):
    """The sampler could not produce a valid architecture within its limits."""


class TaskError(NasError):
    """A task name, data file or target column is unknown or unusable."""


class TrainingError(NasError):
    """Training failed (NaN loss, timeout, out of memory); the trial fails with this reason."""


class ExportError(NasError):
    """ONNX export, checking or onnxruntime parity failed."""


class StoreError(NasError):
    """The ONNX-Bench store is missing, corrupt, or a record is unknown."""


class StorageError(NasError):
    """The Optuna storage URL is malformed or the database cannot be reached."""


class NotAJournalError(StorageError):
    """A file given as a journal storage holds something else (a database, binary data,
    text): read as a journal it would look like an empty study, and a search would
    append to it."""


class StudyMismatchError(StorageError):
    """A study is resumed with other data or settings than it was created with."""


class PredictorError(NasError):
    """A predictor file is invalid, tampered with, or used before fitting."""


class LeaderboardError(NasError):
    """Nothing to rank, or the requested report cannot be produced."""


class OptionError(NasError):
    """One or more options of a configuration are invalid.

    Each problem is a template that names fields as ``{field}``, e.g.
    ``"{budget} must be at least 1"`` (values written into it double their braces).
    ``str()`` names the fields themselves, as a Python caller wrote them;
    :meth:`renamed` gives the same error naming them otherwise (the CLI's flags).
    ``fields`` lists the fields at fault.
    """

    def __init__(self, *problems: str, names: dict[str, str] | None = None) -> None:
        self.problems = problems
        self.fields = tuple(dict.fromkeys(
            name for p in problems for _, name, _, _ in Formatter().parse(p) if name))
        spelled = {f: (names or {}).get(f, f) for f in self.fields}
        super().__init__("; ".join(p.format_map(spelled) for p in problems))

    def renamed(self, names: dict[str, str]) -> "OptionError":
        """The same error, with each field spelled as ``names`` says (others unchanged)."""
        return OptionError(*self.problems, names=names)


class UnknownNameError(NasError):
    """A name looked up in a plugin registry (``nas.registry``) is not registered."""
