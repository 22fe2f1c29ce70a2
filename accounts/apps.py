from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The four roles (supervisor, analyst, etl_operator, admin) as groups, and the demo users."""

    name = "accounts"
    verbose_name = "用户与角色 Users and roles"
