"""Re-load the shipped code lists after the data files in layers/data changed (idempotent)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from layers.codelists import sync_codelists


class Command(BaseCommand):
    help = "Upsert the shipped code lists, crosswalk and county polygons from layers/data."

    def handle(self, *args, **options):
        with transaction.atomic():
            counts = sync_codelists()
        for key, count in counts.items():
            self.stdout.write(f"{key}: {count}")
