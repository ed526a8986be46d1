"""The configuration reference, written from the settings models themselves: every option, its
type, default, environment variable and description, nested tables included. Generated, so it
cannot drift from the code (a test compares it with ``docs/configuration.md``)."""

from __future__ import annotations

import json
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from privacy import model_registry


def _models_in(annotation: Any) -> tuple[list[type[BaseModel]], bool]:
    """(the models a field holds: one, or the kinds of a tagged union; whether a list)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation], False
    if origin in (list, tuple) and args:
        models, _ = _models_in(args[0])
        return models, bool(models)
    if origin in (typing.Union, types.UnionType):
        models = [m for arg in args for m in _models_in(arg)[0]]
        return models, False
    return [], False


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return ", ".join(f"`{m.value}`" for m in annotation)
        return annotation.__name__
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("none" if a is type(None) else _type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        if field.default_factory is model_registry.default_cache_dir:
            return "the user's cache (`~/.cache/safecity/models`)"
        value = field.default_factory()  # type: ignore[call-arg]  # ours take no arguments
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    return f"`{json.dumps(value, default=str)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


Nested = tuple[str, type[BaseModel], str | None]  # (label, model, environment prefix)


def _table(model: type[BaseModel], where: str, env: str | None,
           nested: list[Nested]) -> list[str]:
    rows = ["| option | type | default | environment | description |",
            "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        inners, many = _models_in(field.annotation)
        variable = f"`{env}{name.upper()}`" if env is not None else "—"
        if inners:
            label = f"{where}{name}" + ("[]" if many else "")
            links = []
            for inner in inners:
                tagged = inner.model_fields.get("type")
                values = typing.get_args(tagged.annotation) if tagged is not None else ()
                tag = f" ({values[0]})" if len(inners) > 1 and values else ""
                if f"{label}{tag}" not in {n[0] for n in nested}:
                    nested.append((f"{label}{tag}", inner, None if many or env is None
                                   else f"{env}{name.upper()}__"))
                links.append(f"[{label}{tag}](#{_anchor(label + tag)})")
            kind = ("list of " if many else "") + ", ".join(links)
            if many and env is not None:
                variable += " (JSON)"
        else:
            kind = _type_name(field.annotation)
        rows.append(f"| `{name}` | {_cell(kind)} | {_cell(_default(field))} | {variable} | "
                    f"{_cell(field.description or '')} |")
    return rows


def _anchor(label: str) -> str:
    """GitHub's heading anchors: lower case, spaces to hyphens, other punctuation dropped."""
    return "".join(c for c in label.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def reference(title: str, model: type[BaseModel], file_hint: str) -> str:
    """Markdown for one process's settings (its TOML file and environment)."""
    # env_prefix is a pydantic-settings key: plain ConfigDict does not declare it
    prefix = typing.cast(str, model.model_config.get("env_prefix", ""))
    nested: list[Nested] = []
    lines = [f"## {title}", "", f"Read from `{file_hint}` (`--config`), then overridden by the "
             f"environment (`{prefix}*`; a nested option joins its names with `__`).", "",
             *_table(model, "", prefix, nested)]
    done = 0
    while done < len(nested):  # each nested table may name more
        label, inner, env = nested[done]
        done += 1
        doc = " ".join((inner.__doc__ or "").strip().split("\n\n")[0].split())
        lines += ["", f"### {label}", "", *([doc, ""] if doc else []),
                  *_table(inner, f"{label}.", env, nested)]
    return "\n".join(lines) + "\n"
