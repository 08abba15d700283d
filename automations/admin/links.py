"""Topic and hook links: inlines on the topic and channel pages, and their own lists.

A link's target (topic, channel, action, hook) is fixed once created, as on the
API: only its priority changes (`link_update_priority`); to change the target,
delete the link and add another. New links go through `topic_action_create` /
`hook_action_create`, deletions through `link_delete`. Links run in ascending
priority (lower first, ties by the older link), the order the inlines show.

Validation before anything is written: a new link is created by its service in
a rolled-back dry run (once the topic or channel exists), so a duplicate of an
existing link or a target of another workspace is an error on the row; two
identical new rows on one page are caught too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from accounts.admin.common import dry_run
from automations import services
from automations.admin.common import (
    ScopedChoicesMixin,
    ServiceAdmin,
    ServiceModelForm,
    add_service_errors,
    remember_scope,
)
from automations.models import HookAction, TopicAction
from config.exceptions import Conflict

# The services' names for link fields -> model fields.
LINK_NAMES = {
    "topicID": "topic",
    "specialTopic": "special_topic",
    "documentID": "document_id",
    "channelID": "channel",
    "specialChannel": "special_channel",
    "actionID": "action",
    "hookName": "hook_name",
    "priority": "priority",
}
TARGET_FIELDS = (
    "workspace",
    "topic",
    "special_topic",
    "document_id",
    "channel",
    "special_channel",
    "action",
    "hook_name",
)
FIXED_HELP = "Fixed once linked: delete the link and add another to change it."
DUPLICATE = "This action is already linked here."


def _priority_field() -> forms.IntegerField:
    return forms.IntegerField(
        min_value=services.PRIORITY_MIN,
        max_value=services.PRIORITY_MAX,
        initial=0,
        help_text="Lower runs first.",
        widget=forms.NumberInput(attrs={"style": "width: 8em"}),
    )


def _link_key(kwargs: dict[str, Any]) -> tuple:
    """What makes two links the same (the unique constraint's columns)."""
    return tuple(
        (name, getattr(value, "pk", value) or None)
        for name, value in sorted(kwargs.items())
        if name not in ("workspace", "priority")
    )


# --- Inlines on the topic and channel pages ------------------------------------------------------
class LinkInlineForm(forms.ModelForm):
    priority = _priority_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in TARGET_FIELDS:
                if name in self.fields:
                    self.fields[name].disabled = True
                    self.fields[name].help_text = FIXED_HELP


class LinkFormSet(BaseInlineFormSet):
    """Saves through the link services. `create` and `link_kwargs` are set by the
    inline: the service, and its arguments for a form's new link."""

    create: Callable[..., Any]

    def link_kwargs(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _new_forms(self) -> list[forms.ModelForm]:
        return [
            form
            for form in self.forms
            if form.instance.pk is None
            and form.has_changed()
            and getattr(form, "cleaned_data", None)
            and not self._should_delete_form(form)
            and form.is_valid()
        ]

    def clean(self) -> None:
        super().clean()
        parent = self.instance
        seen: set[tuple] = set()
        for form in self._new_forms():
            kwargs = self.link_kwargs(form.cleaned_data)
            wrong = [
                name
                for name, target in kwargs.items()
                if name != "workspace"
                and hasattr(target, "workspace_id")
                and parent.workspace_id
                and target.workspace_id != parent.workspace_id
            ]
            for name in wrong:
                form.add_error(
                    name if name in form.fields else None, f"Not in {parent}'s workspace."
                )
            key = _link_key(kwargs)
            if key in seen:
                form.add_error(None, "The same link twice on this page.")
                continue
            seen.add(key)
            if wrong or parent.pk is None:
                continue  # a new topic or channel has no links yet: nothing to collide with
            error = dry_run(lambda kwargs=kwargs: self.create(**kwargs))
            if isinstance(error, Conflict):
                form.add_error(None, DUPLICATE)
            elif error is not None:
                add_service_errors(form, error, LINK_NAMES)

    def save_new(self, form: forms.ModelForm, commit: bool = True) -> Any:
        link = self.create(**self.link_kwargs(form.cleaned_data))
        form.instance = link
        return link

    def save_existing(self, form: forms.ModelForm, obj: Any, commit: bool = True) -> Any:
        if "priority" in form.changed_data:
            services.link_update_priority(link=obj, priority=form.cleaned_data["priority"])
        return obj

    def delete_existing(self, obj: Any, commit: bool = True) -> None:
        if commit:
            services.link_delete(link=obj)


class LinkInline(ScopedChoicesMixin, admin.TabularInline):
    form = LinkInlineForm
    formset = LinkFormSet
    extra = 1
    ordering = ("priority", "id")
    show_change_link = False
    # Subclasses: the service and how a form's data becomes its arguments.
    create: Callable[..., Any]

    def link_kwargs(self, parent: Any, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        remember_scope(request, obj)  # choices of the topic's / channel's workspace only
        formset = super().get_formset(request, obj, **kwargs)
        inline = self
        formset.create = staticmethod(self.create)
        formset.link_kwargs = lambda fs, data: inline.link_kwargs(fs.instance, data)
        return formset

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("action")


def _blank(value: str | None) -> str | None:
    return value or None


class TopicLinkInline(LinkInline):
    """On a topic: which actions run when it is detected."""

    model = TopicAction
    fk_name = "topic"
    fields = ["action", "channel", "special_channel", "priority"]
    verbose_name = "topic action"
    verbose_name_plural = "actions run when this topic is detected (lowest priority first)"
    create = staticmethod(services.topic_action_create)

    def link_kwargs(self, parent: Any, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "workspace": parent.workspace,
            "topic": parent,
            "action": data.get("action"),
            "channel": data.get("channel"),
            "special_channel": _blank(data.get("special_channel")),
            "priority": data.get("priority", 0),
        }


class ChannelTopicLinkInline(LinkInline):
    """On a channel: the topic actions limited to it."""

    model = TopicAction
    fk_name = "channel"
    fields = ["topic", "special_topic", "action", "priority"]
    verbose_name = "topic action"
    verbose_name_plural = "topic actions on this channel (lowest priority first)"
    create = staticmethod(services.topic_action_create)

    def link_kwargs(self, parent: Any, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "workspace": parent.workspace,
            "channel": parent,
            "topic": data.get("topic"),
            "special_topic": _blank(data.get("special_topic")),
            "action": data.get("action"),
            "priority": data.get("priority", 0),
        }


class ChannelHookLinkInline(LinkInline):
    """On a channel: the hook actions limited to it."""

    model = HookAction
    fk_name = "channel"
    fields = ["hook_name", "action", "priority"]
    verbose_name = "hook action"
    verbose_name_plural = "hook actions on this channel (lowest priority first)"
    create = staticmethod(services.hook_action_create)

    def link_kwargs(self, parent: Any, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "workspace": parent.workspace,
            "channel": parent,
            "hook_name": data.get("hook_name"),
            "action": data.get("action"),
            "priority": data.get("priority", 0),
        }


# --- Their own lists -----------------------------------------------------------------------------
class LinkForm(ServiceModelForm):
    """A link on its own page: every target on add, only the priority on change."""

    service_names = LINK_NAMES
    priority = _priority_field()
    create: Callable[..., Any]
    target_names: tuple[str, ...] = ()

    def save_through_services(self, *, dry: bool = False) -> Any:
        data = self.cleaned_data
        if self.instance.pk is None:
            kwargs = {name: data.get(name) for name in self.target_names}
            for name in ("special_topic", "special_channel"):
                if name in kwargs:
                    kwargs[name] = _blank(kwargs[name])
            return self.create(
                workspace=self.target_workspace(), priority=data.get("priority", 0), **kwargs
            )
        link = self.working_copy(dry)
        if "priority" in self.changed_data:
            services.link_update_priority(link=link, priority=data["priority"])
        return link


TOPIC_LINK_TARGETS = (
    "topic",
    "special_topic",
    "document_id",
    "channel",
    "special_channel",
    "action",
)
HOOK_LINK_TARGETS = ("hook_name", "channel", "action")


class TopicActionForm(LinkForm):
    create = staticmethod(services.topic_action_create)
    target_names = TOPIC_LINK_TARGETS

    class Meta:
        model = TopicAction
        fields = ["workspace", *TOPIC_LINK_TARGETS, "priority"]
        labels = {"document_id": "Document ID"}


class HookActionForm(LinkForm):
    create = staticmethod(services.hook_action_create)
    target_names = HOOK_LINK_TARGETS

    class Meta:
        model = HookAction
        fields = ["workspace", *HOOK_LINK_TARGETS, "priority"]
        help_texts = {"channel": "Blank: every channel."}


class LinkAdmin(ServiceAdmin):
    list_per_page = 100
    list_select_related = ["action", "channel", "workspace"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = ["created_at"]
        return fixed if obj is None else [*fixed, *self.form.target_names, "workspace"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        return [
            (None, {"fields": ["workspace", *self.form.target_names, "priority", "created_at"]})
        ]

    def save_model(self, request: HttpRequest, obj: Any, form: LinkForm, change: bool) -> None:
        link = form.save_through_services()
        if link is not obj:
            obj.pk = link.pk
            obj.refresh_from_db()
            obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.link_delete(link=obj)

    @admin.display(description="Action", ordering="action__name")
    def action_label(self, obj: Any) -> str:
        return str(obj.action)

    @admin.display(description="Active", boolean=True)
    def action_active(self, obj: Any) -> bool:
        return obj.action.is_active

    @admin.display(description="Channel")
    def channel_label(self, obj: Any) -> str:
        if obj.channel_id:
            return str(obj.channel)
        return getattr(obj, "special_channel", None) or "every channel"


@admin.register(TopicAction)
class TopicActionAdmin(LinkAdmin):
    form = TopicActionForm
    list_display = [
        "topic_label",
        "priority",
        "action_label",
        "action_active",
        "channel_label",
        "workspace",
    ]
    list_display_links = ["topic_label", "priority"]
    list_filter = [
        ("topic", admin.RelatedOnlyFieldListFilter),
        ("channel", admin.RelatedOnlyFieldListFilter),
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["topic__name", "special_topic", "action__name"]
    ordering = ["topic__name", "special_topic", "priority", "id"]
    list_select_related = ["action", "channel", "topic", "workspace"]

    @admin.display(description="Topic", ordering="topic__name")
    def topic_label(self, obj: TopicAction) -> str:
        return obj.topic.name if obj.topic_id else f"special: {obj.special_topic}"


@admin.register(HookAction)
class HookActionAdmin(LinkAdmin):
    form = HookActionForm
    list_display = [
        "hook_name",
        "priority",
        "action_label",
        "action_active",
        "channel_label",
        "workspace",
    ]
    list_display_links = ["hook_name", "priority"]
    list_filter = [
        "hook_name",
        ("channel", admin.RelatedOnlyFieldListFilter),
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["action__name"]
    ordering = ["hook_name", "priority", "id"]
