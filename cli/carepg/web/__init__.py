"""carepg's HTTP API and calendar page: a plain WSGI application (`carepg.web:app`), no framework.

`carepg serve` runs it behind the ASGI front (front.py), which adds the event stream; without that route it runs
under any WSGI server. See app.py for the routes and pool.py for the environment variables it reads
(CAREPG_WEB_*).
"""

from .app import app, make_app

__all__ = ["app", "make_app"]
