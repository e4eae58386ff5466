"""The web interface: server-rendered pages (Jinja2) over the same services and permission
checks as the APIs. ``planfeed.web.routes.install`` mounts it on the app."""
