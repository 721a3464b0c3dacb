"""Errors every layer may raise; defined at the bottom so no layer imports a higher one to raise them."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that the pipeline cannot run with."""
