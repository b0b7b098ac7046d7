"""Errors a user can cause. Each message ends with one sentence naming the fix; entry points print it
without a traceback. May be imported by anything."""


class UserError(Exception):
    """Base class: bad data, bad path, bad config, wrong checkpoint."""


class ConfigError(UserError, ValueError):
    """A config value that cannot work; the message names the key."""
