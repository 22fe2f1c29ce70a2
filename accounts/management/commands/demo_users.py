"""Create the demo users (demo only: never run this on a real installation)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.roles import ADMIN, ANALYST, ETL_OPERATOR, SUPERVISOR

DEMO_PASSWORD = "onemap-demo"
DEMO_USERS = {
    "supervisor": (SUPERVISOR, "监管人员（演示）"),
    "analyst": (ANALYST, "分析人员（演示）"),
    "operator": (ETL_OPERATOR, "数据管理员（演示）"),
    "admin": (ADMIN, "系统管理员（演示）"),
}


class Command(BaseCommand):
    help = "Create (or reset) the demo users supervisor, analyst, operator and admin, password onemap-demo."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        for username, (role, title) in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": title})
            user.set_password(DEMO_PASSWORD)
            user.is_staff = role == ADMIN
            user.is_superuser = role == ADMIN
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            self.stdout.write(f"{'created' if created else 'kept'} {username} ({role})")
