"""HTTP basic authentication that does not hash the password on every request.

Why: QGIS and GDAL send basic credentials with every tile and feature request, and Django's password
hasher is deliberately slow (hundreds of milliseconds); a map view of 30 tiles would spend seconds hashing.
A successful check is remembered for a few minutes in the cache, keyed by a keyed hash of the header (the
password itself is never stored); a changed password or a deactivated user takes effect when it expires.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from drf_spectacular.authentication import BasicScheme
from rest_framework.authentication import BasicAuthentication

TTL_SECONDS = 300


class CachedBasicAuthentication(BasicAuthentication):
    def authenticate_credentials(self, userid, password, request=None):
        digest = hmac.new(settings.SECRET_KEY.encode(), f"{userid}\0{password}".encode(), hashlib.sha256)
        key = "onemap-basic-" + digest.hexdigest()
        pk = cache.get(key)
        if pk is not None:
            user = get_user_model().objects.filter(pk=pk, is_active=True).first()
            if user is not None:
                return user, None
        user, auth = super().authenticate_credentials(userid, password, request)
        cache.set(key, user.pk, TTL_SECONDS)
        return user, auth


class CachedBasicScheme(BasicScheme):
    """The OpenAPI description of the class above: plain HTTP basic."""

    target_class = "layers.api.auth.CachedBasicAuthentication"
