"""Companies: a list with contact counts; edits through the company services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest

from accounts.admin.common import WorkspaceScopedAdmin, visible_workspaces
from contacts import services
from contacts.models import Company

EDITABLE = ["name", "domain", "industry", "size", "country"]


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = ["workspace", *EDITABLE]

    def clean(self) -> dict:
        data = super().clean()
        workspace = data.get("workspace") or (
            self.instance.workspace if self.instance.workspace_id else None
        )
        name = (data.get("name") or "").strip()
        if workspace is None or not name:
            return data
        # Contacts refer to companies by name (case-insensitively): keep names unique.
        duplicate = (
            Company.objects.for_workspace(workspace)
            .annotate(name_lower=Lower("name"))
            .filter(name_lower=name.lower())
            .exclude(pk=self.instance.pk)
            .exists()
        )
        if duplicate:
            self.add_error("name", "This workspace already has a company with this name.")
        return data


@admin.register(Company)
class CompanyAdmin(WorkspaceScopedAdmin):
    form = CompanyForm
    list_display = ["name", "domain", "industry", "country", "contact_count", "workspace"]
    list_filter = ["industry", "country", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "domain"]
    list_select_related = ["workspace"]
    list_per_page = 50
    fields = ["workspace", "public_id", *EDITABLE, "contact_count", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        return super().get_queryset(request).annotate(contacts_total=Count("contacts"))

    @admin.display(description="Contacts", ordering="contacts_total")
    def contact_count(self, obj: Company) -> int:
        return getattr(obj, "contacts_total", 0)

    def get_readonly_fields(self, request: HttpRequest, obj: Company | None = None) -> list[str]:
        fixed = ["public_id", "contact_count", "created_at", "updated_at"]
        return fixed if obj is None else [*fixed, "workspace"]

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "workspace":
            kwargs["queryset"] = visible_workspaces(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Company, form: CompanyForm, change: bool):
        data = form.cleaned_data
        if change:
            changes = {f: data[f] for f in form.changed_data if f in EDITABLE}
            if changes:
                services.company_update(company=obj, changes=changes)
            return
        company = services.company_get_or_create(workspace=data["workspace"], name=data["name"])
        others = {f: data[f] for f in EDITABLE if f != "name" and data.get(f)}
        if others:
            services.company_update(company=company, changes=others)
        obj.pk = company.pk
        obj.refresh_from_db()
        obj._state.adding = False

    # Contacts keep a company's name in their search text; deleting a company with
    # contacts would leave it stale, and there is no company_delete service yet.
    # (A bulk delete that includes one is refused as a whole by Django's check.)
    def has_delete_permission(self, request: HttpRequest, obj: Company | None = None) -> bool:
        if obj is not None and getattr(obj, "contacts_total", None) is None:
            obj.contacts_total = obj.contacts.count()
        if obj is not None and obj.contacts_total:
            return False
        return super().has_delete_permission(request, obj)
