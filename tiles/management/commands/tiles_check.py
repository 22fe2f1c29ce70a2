"""``manage.py tiles_check``: write the MapServer/MapProxy configuration from the layer registry and
validate it with MapProxy's own loader, without rendering anything; lists every problem at once."""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError

from layers import registry
from tiles import mapproxy


def config_problems() -> list[str]:
    """Differences between the registry and the generated mapfile/yaml (empty when in step)."""
    import yaml

    path = mapproxy.write_config()
    mapfile = (path.parent / "onemap.map").read_text(encoding="utf-8")
    conf = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = []
    map_layers = re.findall(r'^\s+NAME "([a-z0-9_]+)"\s*$', mapfile, flags=re.M)
    proxy_layers = [layer["name"] for layer in conf["layers"]]
    for layer in registry.all_layers():
        if layer.name not in map_layers:
            problems.append(f"mapfile: no LAYER {layer.name!r}")
        if layer.name not in proxy_layers:
            problems.append(f"mapproxy.yaml: no layer {layer.name!r}")
        if mapproxy.cache_name(layer) not in conf["caches"]:
            problems.append(f"mapproxy.yaml: no cache {mapproxy.cache_name(layer)!r}")
    extra = set(proxy_layers) - {layer.name for layer in registry.all_layers()}
    problems += [f"mapproxy.yaml: layer {name!r} is not in the registry" for name in sorted(extra)]
    try:
        mapproxy.load_seed_configuration()
    except Exception as exc:  # noqa: BLE001 - MapProxy raises several kinds; each is a finding to list
        problems.append(f"MapProxy refuses {path}: {exc}")
    return problems


class Command(BaseCommand):
    help = "检查瓦片配置 Generate and validate the MapServer/MapProxy configuration from the layer registry."

    def handle(self, *args, **options):
        problems = config_problems()
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write(f"OK: {len(registry.all_layers())} layers in {mapproxy.config_dir()}")
