from django.apps import AppConfig


class TilesConfig(AppConfig):
    """Vector tiles, the MapProxy/MapServer configuration generated from the layer registry, and keeping
    every tile cache in step with the data."""

    name = "tiles"
    verbose_name = "瓦片服务 Tiles"

    def ready(self) -> None:
        from etl.signals import load_completed
        from layers.signals import layer_data_changed
        from tiles.receivers import on_layer_data_changed, on_load_completed

        load_completed.connect(on_load_completed, dispatch_uid="tiles.on_load_completed")
        layer_data_changed.connect(on_layer_data_changed, dispatch_uid="tiles.on_layer_data_changed")
