"""A cadence step's params template, rendered per contact.

The template is the action's params with sandboxed Jinja2 in its strings
(automations.templating), rendered with `contact`, `sender`, `cadence` and
`step`; the recipient defaults to the enrolled contact. See outreach.cadences
for the semantics.
"""

from __future__ import annotations

from typing import Any

from contacts.models import Contact
from outreach.models import STEP_ACTION_TYPES, Cadence, StepType
from outreach.params import validate_params

# What a step reaches when its template does not say: the enrolled contact.
RECIPIENT_DEFAULTS: dict[str, dict[str, str]] = {
    StepType.EMAIL: {"to": "{{ contact.email }}"},
    StepType.SMS: {
        "recipient_phone": "{{ contact.phone }}",
        "recipient_name": "{{ contact.name }}",
    },
    StepType.PHONE: {
        "recipient_phone": "{{ contact.phone }}",
        "recipient_name": "{{ contact.name }}",
    },
    StepType.LINKEDIN: {"profile_url": "{{ contact.linkedin_url }}"},
    StepType.OTHER: {"title": "{{ step.name or (cadence.name ~ ': step ' ~ step.order) }}"},
}

# The contact a step's template is checked against when the step is saved: every
# well-known property set, so only a typo or a missing required param fails.
SAMPLE_CONTACT: dict[str, Any] = {
    "id": "ct_sample",
    "email": "sam.sample@example.com",
    "firstname": "Sam",
    "lastname": "Sample",
    "name": "Sam Sample",
    "jobtitle": "Head of Operations",
    "company": "Example Inc",
    "phone": "+14155550123",
    "linkedin_url": "https://www.linkedin.com/in/sam-sample",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "industry": "Software",
    "lifecyclestage": "lead",
    "lead_status": "new",
    "timezone": "America/Los_Angeles",
    "do_not_contact": False,
    "unsubscribed": False,
    "bounced": False,
}
SAMPLE_SENDER = {"name": "Sample Sender", "address": "sender@example.com"}


def _render_value(value: Any, context: dict, path: str, errors: dict[str, list[str]]) -> Any:
    from automations.templating import TemplateError, render

    if isinstance(value, str):
        try:
            return render(value, context)
        except TemplateError as exc:
            errors[path] = [str(exc)]
            return None
    if isinstance(value, list):
        return [_render_value(v, context, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _render_value(v, context, f"{path}.{k}", errors) for k, v in value.items()}
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def render_step_params(
    *, step_type: str, params_template: Any, context: dict
) -> tuple[dict, dict[str, list[str]]]:
    """(validated action params, errors keyed `params_template.<key>`)."""
    if not isinstance(params_template, dict):
        return {}, {"params_template": ["Must be an object."]}
    template = {**RECIPIENT_DEFAULTS.get(step_type, {}), **params_template}
    errors: dict[str, list[str]] = {}
    rendered = {}
    for key, value in template.items():
        out = _render_value(value, context, f"params_template.{key}", errors)
        if isinstance(out, list):
            out = [item for item in out if not _blank(item)]
        if not _blank(out) and out != []:
            rendered[key] = out
    params, param_errors = validate_params(STEP_ACTION_TYPES[step_type], rendered)
    for name, messages in param_errors.items():
        name = "params_template" + name.removeprefix("params")
        if not any(name == bad or name.startswith(f"{bad}[") for bad in errors):
            errors[name] = messages  # a key that failed to render keeps that error only
    return ({}, errors) if errors else (params, {})


def contact_context(contact: Contact) -> dict[str, Any]:
    from contacts.properties import properties_of

    return {
        **properties_of(contact),
        "id": contact.public_id,
        "name": f"{contact.firstname} {contact.lastname}".strip(),
    }


def step_context(
    *,
    contact: dict,
    sender: dict,
    cadence: Cadence,
    step_type: str,
    order: int,
    day: int,
    name: str,
) -> dict:
    return {
        "contact": contact,
        "sender": sender,
        "cadence": {"name": cadence.name},
        "step": {"order": order, "day": day, "name": name, "type": step_type},
    }
