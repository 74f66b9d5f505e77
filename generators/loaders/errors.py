"""The one error type every loader raises for a file it cannot turn into a generator."""
from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint file is unusable: truncated, corrupt, foreign, unsafe or of an unsupported architecture.

    The message always names the file and says what is wrong with it, so a user can act on it without
    reading a traceback.
    """
