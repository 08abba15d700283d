"""Topics and channels, each with its links inline (lowest priority first).

Keywords and patterns are JSON lists in the database and one entry per line
here (blank lines dropped, each line stripped); the service checks each entry
(length, a pattern must compile on RE2: `services.check_pattern`, the same
check as /api/Topics) and its error names the entry.
Writes: `topic_create` / `topic_update` / `topic_delete`, `channel_create` /
`channel_update` / `channel_delete`; a duplicate name is an error on the name.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from automations import services
from automations.admin.common import (
    LinesField,
    ServiceAdmin,
    ServiceModelForm,
    save_service_form,
    single_workspace,
)
from automations.admin.links import ChannelHookLinkInline, ChannelTopicLinkInline, TopicLinkInline
from automations.models import Channel, Topic

TOPIC_EDITABLE = list(services.TOPIC_FIELDS)
CHANNEL_EDITABLE = list(services.CHANNEL_FIELDS)


def _form_names(fields: dict[str, str]) -> dict[str, str]:
    """The services' error names -> form fields."""
    return {seed: field for field, seed in fields.items()}


class TopicForm(ServiceModelForm):
    service_names = _form_names(services.TOPIC_FIELDS)
    keywords = LinesField(
        rows=5,
        help_text="One per line. Matched case-insensitively as whole words in the subject "
        "and body.",
    )
    patterns = LinesField(
        rows=3,
        help_text="Regular expressions in RE2 syntax, one per line, matched case-insensitively "
        "(no lookahead, lookbehind or backreferences). Any match detects the topic.",
    )

    class Meta:
        model = Topic
        fields = ["workspace", *TOPIC_EDITABLE]

    def describe_item(self, key: str, message: str) -> str:
        # "keywords[2]" -> the entry itself, since line numbers shift with blank lines.
        name, _, index = key.partition("[")
        entries = self.cleaned_data.get(name)
        if entries is None and isinstance(self.fields.get(name), LinesField):
            # The field's first error took it out of cleaned_data; read the lines again.
            entries = self.fields[name].to_python(self.data.get(self.add_prefix(name)))
        entries = entries or []
        position = int(index.rstrip("]")) if index.rstrip("]").isdigit() else -1
        entry = entries[position] if 0 <= position < len(entries) else key
        return f"“{entry}”: {message}"

    def save_through_services(self, *, dry: bool = False) -> Topic:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.topic_create(
                workspace=self.target_workspace(),
                **{name: data[name] for name in TOPIC_EDITABLE if name in data},
            )
        changes = {name: data[name] for name in self.changed_data if name in TOPIC_EDITABLE}
        return services.topic_update(topic=self.working_copy(dry), changes=changes)


class ChannelForm(ServiceModelForm):
    service_names = _form_names(services.CHANNEL_FIELDS)

    class Meta:
        model = Channel
        fields = ["workspace", *CHANNEL_EDITABLE]

    def save_through_services(self, *, dry: bool = False) -> Channel:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.channel_create(
                workspace=self.target_workspace(),
                **{name: data[name] for name in CHANNEL_EDITABLE if name in data},
            )
        changes = {name: data[name] for name in self.changed_data if name in CHANNEL_EDITABLE}
        return services.channel_update(channel=self.working_copy(dry), changes=changes)


class NamedAdmin(ServiceAdmin):
    """Shared by topics and channels: workspace fixed once created, writes and
    deletes through the services, the workspace column only when it says something."""

    list_select_related = ["workspace"]
    list_per_page = 50
    search_fields = ["name"]
    ordering = ["name", "id"]

    def get_list_display(self, request: HttpRequest) -> list[str]:
        columns = list(super().get_list_display(request))
        if single_workspace(request) is not None and "workspace" in columns:
            columns.remove("workspace")
        return columns

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = ["created_at", "updated_at"]
        return fixed if obj is None else [*fixed, "workspace"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super().get_queryset(request).annotate(link_total=Count("topicaction", distinct=True))
        )

    @admin.display(description="Topic actions", ordering="link_total")
    def link_count(self, obj: Any) -> int:
        return getattr(obj, "link_total", 0)

    def save_model(self, request: HttpRequest, obj: Any, form: ServiceModelForm, change: bool):
        save_service_form(form, obj)


@admin.register(Topic)
class TopicAdmin(NamedAdmin):
    form = TopicForm
    list_display = ["name", "keyword_list", "is_active", "link_count", "updated_at", "workspace"]
    list_filter = ["is_active", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description"]
    fields = ["workspace", *TOPIC_EDITABLE, "created_at", "updated_at"]
    inlines = [TopicLinkInline]

    @admin.display(description="Keywords")
    def keyword_list(self, obj: Topic) -> str:
        return ", ".join(obj.keywords or [])

    def delete_model(self, request: HttpRequest, obj: Topic) -> None:
        services.topic_delete(topic=obj)


@admin.register(Channel)
class ChannelAdmin(NamedAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "is_active", "link_count", "updated_at", "workspace"]
    list_filter = ["kind", "is_active", ("workspace", admin.RelatedOnlyFieldListFilter)]
    fields = ["workspace", *CHANNEL_EDITABLE, "created_at", "updated_at"]
    inlines = [ChannelTopicLinkInline, ChannelHookLinkInline]

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
        services.channel_delete(channel=obj)
