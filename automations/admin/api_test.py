"""The Test button of ApiCall definitions: a sample context in, the request that
was sent and the answer (or the error) out.

The request is real (automations.outbound's safe client: private, loopback and
link-local destinations are refused unless OUTBOUND_HTTP_ALLOWLIST lists them),
built from the *saved* definition by `run_api_call(..., with_request=True)`, so
what is shown is what a hook step would send: Authorization and every header of
`api_headers` (whose values are secrets) are shown as "[redacted]", and the stored
password, token and written header values never appear (redacted from the URL,
headers, body, response excerpt, mapped values and error messages; header values
as automations.api_call says).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from automations.api_call import run_api_call
from automations.models import ActionDefinition
from config.queue import PermanentError, TransientError

MAX_CONTEXT_CHARS = 100_000

# Shaped like the inbound pipeline's run context (automations.context.hook_context).
SAMPLE_CONTEXT: dict[str, Any] = {
    "endUser": {
        "contactId": "ct_sample",
        "email": "dana@example.com",
        "firstName": "Dana",
        "lastName": "Example",
        "customerNumber": "C-1001",
    },
    "ticket": {
        "id": "cv_sample",
        "status": "open",
        "subject": "Question about my invoice",
        "channel": "email",
    },
    "message": {
        "id": 1,
        "from": "dana@example.com",
        "to": "support@example.com",
        "subject": "Question about my invoice",
        "body": "Hi, invoice #42 looks wrong. Can you check it?",
    },
    "topic": {"id": 1, "name": "Billing"},
}


class ApiCallTestForm(forms.Form):
    context = forms.CharField(
        label="Sample context (JSON)",
        strip=False,
        max_length=MAX_CONTEXT_CHARS,
        initial=json.dumps(SAMPLE_CONTEXT, indent=2),
        widget=forms.Textarea(
            attrs={"rows": 20, "cols": 90, "class": "json-input", "spellcheck": "false"}
        ),
        help_text="What the templates see, as a hook run would give it: endUser, ticket, "
        "message, topic. A JSON object.",
    )

    def clean_context(self) -> dict[str, Any]:
        raw = self.cleaned_data["context"]
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise forms.ValidationError(f"Must be valid JSON ({exc}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Must be a JSON object, e.g. {"endUser": {...}}.')
        return value


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def run_test(definition: ActionDefinition, context: dict[str, Any]) -> dict[str, Any]:
    """Run the call; a dict for the template (never raises the executors' errors)."""
    try:
        result = run_api_call(definition, context, with_request=True)
    except (TransientError, PermanentError) as exc:
        transient = isinstance(exc, TransientError)
        return {
            "ok": False,
            "kind": "Temporary failure (a hook step would retry)"
            if transient
            else "Permanent failure (a hook step would fail)",
            "error": exc.message,
            "request": getattr(exc, "request", None),
            "status": exc.detail.get("status"),
            "body_excerpt": exc.detail.get("body_excerpt", ""),
        }
    return {
        "ok": True,
        "request": result["request"],
        "status": result["status"],
        "mapped": result["mapped"],
        "mapped_json": _pretty(result["mapped"]),
        "body_excerpt": result["body_excerpt"],
        "warnings": result["warnings"],
    }
