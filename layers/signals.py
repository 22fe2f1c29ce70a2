"""What the owners of a registry layer that is not fed by the ETL tell the services (``layers`` imports
none of them, so the tiles app listens here rather than being called).

``layer_data_changed`` is sent after a committed change of such a layer's rows (e.g. the open findings of
the consistency checks), with ``layers`` (registry names) and ``extent`` (minx, miny, maxx, maxy in EPSG:4490,
old and new geometries). The tiles app moves the layers' data versions on and re-seeds the extent, as it
does after an ETL load (``etl.signals.load_completed``).
"""

from django.dispatch import Signal

layer_data_changed = Signal()
