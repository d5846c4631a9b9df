"""carepg's HTTP API and calendar page: a plain WSGI application (`carepg.web:app`), no framework.

Serve it with `carepg serve` (granian) or any WSGI server. See app.py for the routes and pool.py for the
environment variables it reads (CAREPG_WEB_*).
"""

from .app import app, make_app

__all__ = ["app", "make_app"]
