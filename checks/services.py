"""Human decisions on findings. The engine alone opens, fixes and automatically re-opens findings
(:mod:`checks.engine`); people confirm, declare a false positive (误报), verify a fix or reject it.

Every change is a new :class:`~checks.models.FindingEvent` (append-only), in the same transaction as the
status it records.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from checks.layer import announce
from checks.models import Finding, FindingEvent, Status

# who may move a finding from which status to which: the engine's moves (→ fixed, automatic re-opening)
# are not here, so no person can click a finding fixed
HUMAN_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.CONFIRMED, Status.EXCEPTION),
    Status.REOPENED: (Status.CONFIRMED, Status.EXCEPTION),
    Status.CONFIRMED: (Status.EXCEPTION,),
    Status.EXCEPTION: (Status.CONFIRMED,),
    Status.FIXED: (Status.VERIFIED, Status.REOPENED),
    Status.VERIFIED: (),
}


class TransitionError(ValueError):
    """A status change that is not allowed; ``message_zh`` / ``message_en`` say why."""

    def __init__(self, message_zh: str, message_en: str):
        super().__init__(message_en)
        self.message_zh, self.message_en = message_zh, message_en


def finding_set_status(
    *,
    finding: Finding,
    to: str,
    user,
    reason: str = "",
    expires: datetime | None = None,
) -> FindingEvent:
    """Apply a person's decision. 误报 needs a reason (and may expire); rejecting a fix needs a reason."""
    reason = (reason or "").strip()
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding.pk)
        current = finding.status
        if to == Status.FIXED:
            raise TransitionError(
                "“已整改”只能由检查引擎在复查不再复现后设置",
                "only the engine sets 'fixed' (a run no longer reproduces it)",
            )
        if to not in HUMAN_TRANSITIONS.get(current, ()):
            raise TransitionError(
                f"不能从“{Status(current).label}”改为“{Status(to).label if to in Status.values else to}”",
                f"cannot move a finding from '{current}' to '{to}'",
            )
        if to == Status.EXCEPTION and not reason:
            raise TransitionError("标记误报必须填写理由", "a false positive (误报) needs a reason")
        if to == Status.REOPENED and not reason:
            raise TransitionError("驳回整改必须填写理由", "rejecting a fix needs a reason")
        if expires is not None and expires <= timezone.now():
            raise TransitionError(
                "误报有效期必须晚于当前时间", "the exception's expiry must be in the future"
            )
        now = timezone.now()
        finding.status = to
        finding.status_changed_at = now
        if to == Status.EXCEPTION:
            finding.exception_reason = reason
            finding.exception_author = user
            finding.exception_expires = expires
            finding.exception_material_hash = finding.material_hash
        if to == Status.REOPENED:
            finding.fixed_by_run = None
            finding.fixed_at = None
        finding.save()
        if finding.geom is not None and not finding.geom.empty:  # its look (or presence) on the map changed
            announce(finding.geom.extent)
        return FindingEvent.objects.create(
            finding=finding,
            at=now,
            user=user,
            from_status=current,
            to_status=to,
            reason=reason,
            data={"expires": expires.isoformat()} if expires else {},
        )
