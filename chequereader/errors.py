"""Domain exceptions. Every error the package raises on purpose derives from ChequeReaderError."""

from __future__ import annotations


class ChequeReaderError(Exception):
    """Base class of all chequereader errors."""


class InvalidImageError(ChequeReaderError, ValueError):
    """An input file or array is not a usable image (missing, empty, truncated, too big, ...)."""


class ModelError(ChequeReaderError):
    """Model weights are missing, corrupt, or do not match what the code expects."""


class ConfigError(ChequeReaderError, ValueError):
    """A configuration value or parameter is invalid; the message names it."""


class OutputError(ChequeReaderError):
    """The results cannot be written: the output is locked by another run, the disk is full,
    the path is read-only... The message says which file and why."""
