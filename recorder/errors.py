"""The one error type users see: a single line, exit status 2, never a traceback."""


class RecorderError(Exception):
    """Bad input or an impossible request; the message names the file and what to fix."""

    exit_code = 2


class EngineError(RecorderError):
    """The Docker engine is unreachable or a build failed; not the user's input, so exit 1."""

    exit_code = 1


class SaveError(RecorderError):
    """The recording could not be written where it belongs (a full disk); the message says where it is."""

    exit_code = 1
