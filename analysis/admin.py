from django.contrib import admin

from analysis.models import SavedQuery


@admin.register(SavedQuery)
class SavedQueryAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "shared", "is_example", "updated_at")
    list_filter = ("shared", "is_example")
    search_fields = ("name", "description")
