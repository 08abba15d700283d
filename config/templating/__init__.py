"""Sandboxed Jinja2 templates: ApiCall endpoints, headers and bodies (automations), cadence
steps' params (outreach.step_templates).

Placeholders are plain Jinja2 (AnswerPal's style): `{{endUser.customerNumber}}`,
`{{ticket.status}}`, `{{ contact.email|lower }}`, `{% if ticket.priority %}...{% endif %}`.

    render("/customers/{{endUser.customerNumber}}", context, mode="url")
    render('{"status": {{ ticket.status|tojson }}}', context)

Sandbox
    Jinja2's ImmutableSandboxedEnvironment: no attribute starting with `_` (so no
    `__class__`, `__globals__`, `_TemplateReference__context`), no mutation of lists,
    dicts or sets, `str.format` sandboxed. Where Jinja2 would hand back an "unsafe"
    undefined value, this sandbox raises at once, so a forbidden access can never render
    as an empty string. Rendering also runs on a plain copy of the context (dicts, lists,
    strings, numbers, booleans, None; dates, decimals and UUIDs become strings; anything
    else its `str()`), so a template never reaches a Python object's methods.

    Statements that buffer output outside the streamed result are not allowed:
    `{% macro %}`, `{% call %}`, `{% filter %}`, `{% set x %}...{% endset %}`,
    `{% block %}`, `{% extends %}`, `{% include %}`, `{% import %}` and recursive loops.
    Compile-time constant folding is off (it would run filters at save time).

Resource limits (UnsafeTemplate when exceeded, InvalidTemplate for the source's shape)
    - template source: MAX_TEMPLATE_CHARS (100 000);
    - nesting: brackets and block statements at most MAX_NESTING_DEPTH (20) deep, the
      parsed expression tree at most MAX_TREE_DEPTH (64) deep; anything that still
      exhausts the recursion limit, memory or Python's compiler limits while parsing or
      compiling is an InvalidTemplate too, never a RecursionError;
    - output: MAX_OUTPUT_CHARS (100 000), checked while streaming;
    - any intermediate value (concatenation `~`, `+`, `*`, `%`, `**`, a filter's or a
      method's result): MAX_VALUE_CHARS (1 000 000) characters or items, 10 000 bits for
      integers; amplifying operations (`'x' * n`, `center`, `ljust`, `replace`,
      `indent`, `wordwrap`, `join`, `batch`, `slice`, printf/`format` widths) are
      estimated before they run;
    - `range()`: 100 000 items (the sandbox's own cap); loop iterations:
      MAX_LOOP_ITERATIONS (100 000) per render, all loops together;
    - wall time: RENDER_TIMEOUT_SECONDS (2 s), checked at every loop iteration, call,
      filter, operator and output chunk.

Missing values (decision)
    Default ("lenient"): a missing variable or attribute renders as an empty string,
    chains (`{{ a.b.c }}` with no `a` is empty too), is false in `{% if %}` and empty in
    a loop, and is `null` in `tojson`. It is never silent: every missing name that
    reached the output is logged at WARNING (names only, never values) and returned by
    `render_with_report()` so the caller can put it in the run's record. Arithmetic or
    calls on a missing value still fail with TemplateRenderError.
    `strict=True` uses StrictUndefined: any missing value is a TemplateRenderError.
    `mode="url"` is always strict (see below).

Names (save time)
    `unknown_variables(template, vocabulary)` reads the parsed template (not a render,
    which would see only the branches a sample takes) and names every variable, or
    attribute of a known variable, that the vocabulary lacks, with a "did you mean"
    when one is close; cadence steps and action definitions refuse those with a 400.
    The vocabularies live with their data (contacts.vocabulary, outreach.step_templates,
    automations.context); this package knows no domain names.

Modes
    "text": autoescape off (JSON and plain-text bodies, header values); None renders
    as an empty string.
    "url": every `{{ ... }}` result is percent-encoded as ONE path segment or query
    value (`urllib.parse.quote(value, safe="")`: `/`, `?`, `#`, `&`, `=`, `%`, `..` and
    spaces are encoded), so substituted data can never change the URL's structure;
    literal template text is left as written. A missing value or None is an error here
    (an empty path segment would silently address another resource).

Filters: Jinja2's built-ins, with `tojson` replaced by a plain `json.dumps` (not HTML-
escaped, `ensure_ascii=False`, optional `indent` up to 8) for JSON bodies:
`{"status": {{ ticket.status|tojson }}}`.

Errors (all TemplateError): InvalidTemplate (syntax, unknown filter, forbidden
statement; from `validate()` and `render()`), UnsafeTemplate (sandbox violation or
resource limit), TemplateRenderError (anything else at render time, e.g. a missing value
in strict mode). Messages are meant for the person who wrote the template.

Modules: `errors` (the exceptions), `sandbox` (environment, limits, filters, rendering),
`names` (the save-time vocabulary check). Import the API from here.
"""

from config.templating.errors import (
    InvalidTemplate,
    TemplateError,
    TemplateRenderError,
    UnsafeTemplate,
)
from config.templating.names import Vocabulary, unknown_variables
from config.templating.sandbox import Rendered, plain_context, render, render_with_report, validate

__all__ = [
    "InvalidTemplate",
    "Rendered",
    "TemplateError",
    "TemplateRenderError",
    "UnsafeTemplate",
    "Vocabulary",
    "plain_context",
    "render",
    "render_with_report",
    "unknown_variables",
    "validate",
]
