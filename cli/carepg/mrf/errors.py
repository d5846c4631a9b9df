"""The price-transparency commands' own error classes (each defined here and nowhere else)."""

from __future__ import annotations

from ..errors import CarepgError, InvalidInput


class BadInput(InvalidInput):
    """The bytes are not a readable table of contents (truncated gzip, corrupt JSON, another document)."""

    located = False  # does the message already say where?

    def at(self, where: str) -> BadInput:
        located = BadInput(f"{self.message} ({where})")
        located.located = True
        return located


class SourceError(CarepgError):
    """The source cannot be read (network, HTTP status, missing file)."""

    exit_code = 6
    http_status = 502
    title = "Source unavailable"
