"""A cadence step's params template, rendered per contact.

The template is the action's params with sandboxed Jinja2 in its strings
(config.templating), rendered with `contact` (also reachable as `endUser`:
contacts.vocabulary), `sender`, `cadence` and `step`; the recipient defaults to the
enrolled contact. See outreach.services.cadences for the semantics.

Saving a step checks each string against `step_vocabulary` (a name it does not know
is an error on the string's path, e.g. `params_template.body`), then renders it
against the sample contact and validates the result as action params.
"""

from __future__ import annotations

from typing import Any

from config.templating import TemplateError, render, unknown_variables
from contacts.models import Contact
from contacts.vocabulary import (
    CONTACT_ROOTS,
    contact_variables,
    contact_vocabulary,
    custom_property_names,
)
from contacts.vocabulary import SAMPLE_CONTACT as SAMPLE_CONTACT  # re-exported
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

# A step's template is checked against SAMPLE_CONTACT when the step is saved (every
# well-known property set, so only a typo or a missing required param fails).
SAMPLE_SENDER = {"name": "Sample Sender", "address": "sender@example.com"}

# The variables besides the contact: name -> (attributes, meaning).
STEP_VARIABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "sender": (("name", "address"), "The identity the step sends from."),
    "cadence": (("name",), "The cadence."),
    "step": (("order", "day", "name", "type"), "The step."),
}


def step_vocabulary(workspace_id: int) -> dict[str, Any]:
    """What a step's template may name (config.templating.unknown_variables):
    the contact under both its names, with the workspace's custom properties, and
    STEP_VARIABLES."""
    person = contact_vocabulary(custom_property_names(workspace_id))
    return {
        **{root: dict(person) for root in CONTACT_ROOTS},
        **{name: dict.fromkeys(attributes) for name, (attributes, _) in STEP_VARIABLES.items()},
    }


# Params are shallow (strings, lists, small objects); a deeper structure is refused
# rather than walked, so no stored or posted value can exhaust the recursion limit here.
MAX_PARAMS_DEPTH = 16


def _render_value(
    value: Any,
    context: dict,
    path: str,
    errors: dict[str, list[str]],
    depth: int = 0,
    vocabulary: dict[str, Any] | None = None,
) -> Any:
    """`value` with each string rendered in the sandbox. A template that does not
    compile (nested too deeply included: config.templating's caps) or fails, or
    (given a `vocabulary`) names a variable it does not know, is an error on its path,
    e.g. `params_template.subject`."""
    if depth > MAX_PARAMS_DEPTH and isinstance(value, list | dict):
        errors[path] = [f"Nested more than {MAX_PARAMS_DEPTH} levels deep."]
        return None
    if isinstance(value, str):
        try:
            # Names first: a typo is reported as such, not rendered (and logged) empty.
            unknown = unknown_variables(value, vocabulary) if vocabulary is not None else []
            if unknown:
                errors[path] = unknown
                return None
            return render(value, context)
        except TemplateError as exc:
            errors[path] = [str(exc)]
            return None
    if isinstance(value, list):
        return [
            _render_value(v, context, f"{path}[{i}]", errors, depth + 1, vocabulary)
            for i, v in enumerate(value)
        ]
    if isinstance(value, dict):
        return {
            k: _render_value(v, context, f"{path}.{k}", errors, depth + 1, vocabulary)
            for k, v in value.items()
        }
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def render_step_params(
    *,
    step_type: str,
    params_template: Any,
    context: dict,
    vocabulary: dict[str, Any] | None = None,
) -> tuple[dict, dict[str, list[str]]]:
    """(validated action params, errors keyed `params_template.<key>`). With a
    `vocabulary` (when the step is saved), a string naming an unknown variable is an
    error too; rendering for a contact does not check names (a stored template renders
    as it was accepted)."""
    if not isinstance(params_template, dict):
        return {}, {"params_template": ["Must be an object."]}
    template = {**RECIPIENT_DEFAULTS.get(step_type, {}), **params_template}
    errors: dict[str, list[str]] = {}
    rendered = {}
    for key, value in template.items():
        out = _render_value(value, context, f"params_template.{key}", errors, vocabulary=vocabulary)
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
    """The contact's variables (all its properties, `id`, `name`, and the aliases)."""
    return contact_variables(contact)


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
        "endUser": contact,  # AnswerPal's name for the same contact (contacts.vocabulary)
        "sender": sender,
        "cadence": {"name": cadence.name},
        "step": {"order": order, "day": day, "name": name, "type": step_type},
    }
