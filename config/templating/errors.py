"""The template errors (config.templating): every one a TemplateError whose message is
for the person who wrote the template."""

from __future__ import annotations


class TemplateError(Exception):
    """Base of every template problem; `str(exc)` is a message for the template's author."""


class InvalidTemplate(TemplateError):
    """The template does not compile (syntax, unknown filter, forbidden statement)."""

    def __init__(self, message: str, *, lineno: int | None = None) -> None:
        super().__init__(f"line {lineno}: {message}" if lineno else message)
        self.lineno = lineno


class UnsafeTemplate(TemplateError):
    """The sandbox refused something: a forbidden attribute or call, or a resource limit."""


class TemplateRenderError(TemplateError):
    """Rendering failed for an ordinary reason (missing value in strict mode, type error)."""
