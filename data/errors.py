"""The project's documented error types: every failure a user can cause maps to one of these."""
from __future__ import annotations


class SpotscaleError(Exception):
    """Base of every error spotscale raises on purpose; the CLI prints it as one line."""


class FileError(SpotscaleError):
    """A named file is at fault; the message is '<path>: <cause>'."""

    def __init__(self, path: object, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")

    def __reduce__(self):
        # pickled with its own two arguments: an error raised in a worker process (ProcessPoolExecutor,
        # multiprocessing) is sent back pickled, and Exception's default (the message alone) cannot
        # rebuild it, so the pool broke instead of reporting the file
        return self.__class__, (self.path, self.cause)


class PhotoError(FileError):
    """A photo cannot be read: missing, unreadable, not an image, truncated, too large."""


class AnnotationError(FileError):
    """A labelled-data file (COCO JSON, CSV manifest, crop folder) is malformed or unsafe."""


class CheckpointError(FileError):
    """A model checkpoint is unsafe, truncated or does not fit the network."""


class ConfigError(SpotscaleError):
    """A configuration value or file is invalid (e.g. a negative --mm-per-px)."""


class OutputError(SpotscaleError):
    """The output folder cannot be written (full disk, read-only, busy); earlier results stay intact."""
