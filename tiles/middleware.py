"""Cached raster tiles answered before URL resolution and the middlewares that have nothing to do for them.

Why: a web map asks for dozens of WMTS/TMS tiles at once, most of them already in MapProxy's file cache.
Serving such a file is a few microseconds; the request around it (URL resolution, DRF's dispatch, the
last middlewares) cost most of the time (issue 6: a cached tile must reach 0.3× the throughput of a static
file of the same size). This middleware sits right after ``CachedSessionUserMiddleware``: everything
before it has run (security, sessions, locale, the host check of ``CommonMiddleware``, the CSRF cookie,
``request.user``), and :func:`tiles.mapproxy_views.cached_tile` then does the view's own authentication
and role checks. Whatever it does not answer (errors included) goes down the stack as before.

What a served tile skips, and why that changes nothing (checked when the middleware is built; any other
middleware after this one, or another ``process_view`` hook, turns the fast path off with a warning, so
that a middleware added later is never skipped unnoticed):

- ``LoginRequiredMiddleware``: a ``process_view`` letting through ``login_not_required`` views, which
  ``/mapproxy/`` is (it answers 401 itself); the fast path serves authenticated users only.
- ``MessageMiddleware``: stores the messages added or read during the request; a tile touches none.
- ``XFrameOptionsMiddleware``: its ``process_response`` is applied here, so the header is the same.
- ``CsrfViewMiddleware.process_view`` (hooks run after URL resolution): for GET and HEAD it accepts
  without looking at anything; its ``process_request`` (the cookie) has run.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils.module_loading import import_string

from tiles.mapproxy_views import cached_tile

logger = logging.getLogger(__name__)

PREFIX = "/mapproxy/"
TILE_PREFIXES = ("/mapproxy/wmts/", "/mapproxy/tms/")
THIS = "tiles.middleware.CachedTileMiddleware"
SKIPPED_AFTER = {
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
}
APPLIED_RESPONSE_SIDE = {"django.middleware.clickjacking.XFrameOptionsMiddleware"}
SKIPPED_VIEW_HOOKS = {
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
}


class CachedTileMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.active, self.response_side = self.plan(list(settings.MIDDLEWARE))

    def plan(self, middleware: list[str]) -> tuple[bool, list]:
        """Whether skipping the rest of the stack is safe with these settings, and the response hooks of
        skipped middlewares to apply."""
        if THIS not in middleware:
            return False, []
        position = middleware.index(THIS)
        unknown = [path for path in middleware[position + 1 :] if path not in SKIPPED_AFTER]
        unknown += [
            path
            for path in middleware[:position]
            if hasattr(import_string(path), "process_view") and path not in SKIPPED_VIEW_HOOKS
        ]
        if unknown:
            logger.warning("cached tiles take the full request path: %s would be skipped", ", ".join(unknown))
            return False, []
        hooks = [
            import_string(path)(self.get_response).process_response
            for path in middleware[position + 1 :]
            if path in APPLIED_RESPONSE_SIDE
        ]
        return True, hooks

    def __call__(self, request):
        if self.active and request.method in ("GET", "HEAD") and request.path_info.startswith(TILE_PREFIXES):
            response = cached_tile(request, request.path_info[len(PREFIX) :])
            if response is not None:
                for hook in reversed(self.response_side):  # in the order the stack would run them
                    response = hook(request, response)
                return response
        return self.get_response(request)
