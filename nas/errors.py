"""One exception tree for the whole platform.

Every error a user can cause derives from :class:`NasError`; its message says what is
wrong and what to do next. The CLI prints the message on one line and exits non-zero.
"""


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


class PredictorError(NasError):
    """A predictor file is invalid, tampered with, or used before fitting."""


class LeaderboardError(NasError):
    """Nothing to rank, or the requested report cannot be produced."""
