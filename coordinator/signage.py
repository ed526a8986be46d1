"""Digital-signage messages rendered from a template the city writes ("Road closed at
{camera}: {type}"). A template may name only the fields in ``FIELDS``, bare: no attribute or
index access (``{alert.__class__}``, ``{camera[0]}``), no conversion (``!r``) and no format
spec, since Python's format strings can otherwise reach into objects (the format-string
injection described in https://lucumr.pocoo.org/2016/12/29/careful-with-str-format/). It is
checked when the settings load, and rendered with plain substitution, never ``str.format``.

The placeholders name public alert fields only: no track tokens, no staff names."""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

FIELDS = frozenset({"camera", "site", "type", "rule", "zone", "line", "direction", "time",
                    "count", "severity", "alert_id", "incident_id"})
MAX_TEXT = 500  # a sign shows a line or two; a longer rendering is cut here


def check_template(template: str) -> str:
    """``template`` if every placeholder is a bare name from ``FIELDS``; else a ValueError
    naming the first one that is not (pydantic adds the setting's name)."""
    try:
        parts = list(Formatter().parse(template))
    except ValueError as exc:  # an unmatched brace
        raise ValueError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
                         ) from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"placeholder {{{shown}}} is not allowed; a template names only "
                             f"these, bare: {', '.join(sorted(FIELDS))}")
    return template


def render(template: str, values: Mapping[str, object]) -> str:
    """The template with each placeholder replaced by its value as text (a missing value, e.g.
    an alert without a zone, as an empty string); literal ``{{``/``}}`` become one brace."""
    out = []
    for literal, name, _, _ in Formatter().parse(template):
        out.append(literal)
        if name is not None:
            value = values.get(name)
            out.append("" if value is None else str(value))
    return "".join(out)[:MAX_TEXT]
