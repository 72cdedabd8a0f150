"""Error types shared by every stage.

A `UserError` is a mistake the user can fix (bad flag, bad params, bad input file):
the CLI prints it as one line and exits 2. Anything else is a failure (exit 1).
"""


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit code 2."""


class DataError(UserError):
    """An input data file is missing, corrupt or in the wrong layout."""


class ConfigError(UserError):
    """params.yaml (or an override) has an unknown key, wrong type or bad value."""
