"""What other apps may react to, without the ETL importing them (imports go ``checks → etl``, not back).

``load_completed`` is sent after a non-dry load has committed, with ``run`` (the :class:`etl.models.LoadRun`);
the rows it changed are ``run.changed_keys``. Receivers enqueue their own background jobs (re-checks,
tile re-seeding); a receiver's failure must not turn a committed load into a failed one.
"""

from django.dispatch import Signal

load_completed = Signal()
