"""Pages. Thin: data comes from ``layers.selectors``."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from layers import selectors


def home(request: HttpRequest) -> HttpResponse:
    """The start page: what the unified database holds, on a map of Chongqing's counties.

    Every logged-in role may see it; anonymous users are sent to the login page by the middleware.
    """
    return render(
        request,
        "frontend/home.html",
        {"counts": selectors.layer_counts(), "counties": selectors.counties_geojson()},
    )
