"""The four roles of OneMap and how views check them.

Roles are Django groups so an administrator can manage them in the admin without code. ``admin`` (and
superusers) may do everything a role may do.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

SUPERVISOR = "supervisor"
ANALYST = "analyst"
ETL_OPERATOR = "etl_operator"
ADMIN = "admin"
ALL_ROLES = (SUPERVISOR, ANALYST, ETL_OPERATOR, ADMIN)

ROLE_TITLES = {
    SUPERVISOR: "监管人员",
    ANALYST: "分析人员",
    ETL_OPERATOR: "数据管理员",
    ADMIN: "系统管理员",
}


def user_roles(user) -> set[str]:
    """The roles of a user; cached on the user object for the request."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_onemap_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        if user.is_superuser:
            cached.add(ADMIN)
        user._onemap_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    owned = user_roles(user)
    return ADMIN in owned or bool(owned.intersection(roles))


def role_required(*roles: str) -> Callable:
    """View decorator: 403 unless the user holds one of ``roles`` (or is admin).

    Anonymous users never get here: LoginRequiredMiddleware sends them to the login page first.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.onemap_roles = roles
        return wrapper

    return decorator


def roles_context(request: HttpRequest) -> dict:
    roles = user_roles(getattr(request, "user", None)) if hasattr(request, "user") else set()
    return {"onemap_roles": sorted(roles), "onemap_role_titles": [ROLE_TITLES[r] for r in sorted(roles)]}
