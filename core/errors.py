"""Errors a user can cause, each with a message that says what was wrong and what to do.

The UI shows ``str(error)`` in place of the failed result; the CLI prints it and exits 1.
Nothing here carries a traceback meant for users.
"""


class SerwbError(Exception):
    """Base of every error a user can act on."""


class AudioError(SerwbError):
    """A clip could not be decoded or fails validation (empty, too long, corrupt, ...)."""


class CorpusError(SerwbError):
    """A corpus folder or manifest is missing, empty or of an unknown layout."""


class CheckpointError(SerwbError):
    """A checkpoint is missing, unsafe or does not match the model it names."""


class ConfigError(SerwbError):
    """A setting or preset name is unknown or out of range."""
