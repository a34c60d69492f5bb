"""User-facing errors: the CLI prints their message and exits non-zero, without a traceback."""


class RtguardError(Exception):
    """A problem the user can fix (bad input, bad configuration, missing file)."""


class DataError(RtguardError):
    """The data set cannot be read or does not make a usable training set."""


class ConfigError(RtguardError):
    """The configuration file is missing, malformed or has unknown keys."""


class ParityError(RtguardError):
    """An exported artifact does not compute what the model it came from computes."""


class PolicyError(RtguardError):
    """The ship policy file is missing, malformed, has unknown keys or names no variant of the run."""
