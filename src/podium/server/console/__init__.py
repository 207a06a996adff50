"""The console: watch runs, approve steps, browse models, plan and build workflows in the
browser. Server-rendered pages and plain JavaScript modules over the REST API and its
event stream, served at ``/`` by ``podium serve``."""

from podium.server.console._pages import install

__all__ = ["install"]
