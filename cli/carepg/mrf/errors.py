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


class Interrupted(CarepgError):
    """A signal (SIGTERM, SIGHUP) ended an ingest: the run is recorded as failed, the previous index stays live."""

    http_status = 503
    title = "Interrupted"
    slug = "interrupted"

    def __init__(self, signum: int) -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"terminated by {name}: nothing was loaded, the previous index stays live")
        self.exit_code = 128 + signum
