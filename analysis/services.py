"""Saved queries: who sees and who may change them, and their writes (the API calls these).

Visibility: a user sees their own queries, every shared one and the ready-made examples (admin: all).
Only the owner or an admin changes or deletes a query; examples are read-only for everyone. A query is
validated against the registry and the saver's layer permissions before it is stored, so a saved query
always ran once for its owner; whoever re-runs it later does so with their own permissions.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.roles import ADMIN, user_roles
from analysis.models import SavedQuery
from analysis.query import AccessError, Query, QueryModelError, parse_query

RUN_OVERRIDES = ("limit", "offset", "order_by", "crs")


def is_admin(user) -> bool:
    return ADMIN in user_roles(user)


def saved_visible(user) -> QuerySet[SavedQuery]:
    """The saved queries ``user`` may see and run."""
    qs = SavedQuery.objects.select_related("owner")
    if is_admin(user):
        return qs
    return qs.filter(Q(owner=user) | Q(shared=True) | Q(is_example=True))


def saved_editable(user, saved: SavedQuery) -> bool:
    return not saved.is_example and (saved.owner_id == user.pk or is_admin(user))


def saved_dict(saved: SavedQuery, user) -> dict:
    return {
        "id": saved.pk,
        "name": saved.name,
        "description": saved.description,
        "layer": saved.query.get("layer") if isinstance(saved.query, dict) else None,
        "owner": saved.owner.get_username() if saved.owner_id else None,
        "shared": saved.shared,
        "is_example": saved.is_example,
        "editable": saved_editable(user, saved),
        "query": saved.query,
        "created_at": saved.created_at.isoformat(),
        "updated_at": saved.updated_at.isoformat(),
    }


def prefixed(exc: QueryModelError, prefix: str) -> QueryModelError:
    path = f"{prefix}.{exc.path}" if exc.path else prefix
    return type(exc)(path, exc.message_zh, exc.message_en)


def _fields(data: dict, *, user, partial: bool) -> dict:
    """Validated fields of a save or update: name, description, shared, query."""
    out: dict = {}
    unknown = sorted(set(data) - {"name", "description", "shared", "query"})
    if unknown:
        raise QueryModelError(unknown[0], f"未知的键 {unknown[0]}", f"unknown key {unknown[0]!r}")
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            raise QueryModelError(
                "name", "名称必须是 1–200 字的文本", "name must be text of 1-200 characters"
            )
        out["name"] = name.strip()
    if "description" in data:
        if not isinstance(data["description"], str) or len(data["description"]) > 5000:
            raise QueryModelError("description", "说明必须是文本", "description must be text")
        out["description"] = data["description"]
    if "shared" in data:
        if not isinstance(data["shared"], bool):
            raise QueryModelError("shared", "shared 必须是 true 或 false", "shared must be true or false")
        out["shared"] = data["shared"]
    if "query" in data or not partial:
        try:
            parse_query(data.get("query"), user=user)
        except QueryModelError as exc:
            raise prefixed(exc, "query") from exc
        out["query"] = data["query"]
    return out


def saved_query_create(*, user, data: dict) -> SavedQuery:
    """Save a query for ``user`` (validated first; :class:`QueryModelError` names the path)."""
    return SavedQuery.objects.create(owner=user, **_fields(data, user=user, partial=False))


def saved_query_update(*, user, saved: SavedQuery, data: dict) -> SavedQuery:
    """Change the given fields of a saved query; only its owner or an admin, never an example."""
    if not saved_editable(user, saved):
        raise AccessError(
            "", "只有所有者或管理员可以修改；示例不可修改", "only the owner or an admin may change it"
        )
    for name, value in _fields(data, user=user, partial=True).items():
        setattr(saved, name, value)
    saved.save()
    return saved


def saved_query_delete(*, user, saved: SavedQuery) -> None:
    if not saved_editable(user, saved):
        raise AccessError(
            "", "只有所有者或管理员可以删除；示例不可删除", "only the owner or an admin may delete it"
        )
    saved.delete()


def saved_query_for_run(*, user, saved_id: object, overrides: dict) -> Query:
    """The saved query ``saved_id`` as ``user`` may run it, with page/order/CRS overrides from the request;
    a query the user may not see is :class:`LookupError` (404)."""
    if isinstance(saved_id, bool) or not isinstance(saved_id, int):
        raise QueryModelError(
            "saved", "saved 必须是已保存查询的编号", "saved must be the id of a saved query"
        )
    saved = saved_visible(user).filter(pk=saved_id).first()
    if saved is None:
        raise LookupError(saved_id)
    unknown = sorted(set(overrides) - set(RUN_OVERRIDES))
    if unknown:
        raise QueryModelError(
            unknown[0],
            f"重新运行已保存的查询时只能另给 {', '.join(RUN_OVERRIDES)}",
            f"with saved, only {', '.join(RUN_OVERRIDES)} may be given",
        )
    return parse_query({**saved.query, **overrides}, user=user)
