"""``-o jsonpath=TEMPLATE``: the part of kubectl's JSONPath templates a script needs (pure).

A template is text with expressions in braces, as kubectl writes them:
``{.items[*].metadata.name}``, ``{.status.phase}``, ``{.tags[0]}``, ``{.spec['retention']}``,
``{"\\n"}`` (a string). An expression is ``.``, ``@`` or ``$`` then fields, ``[N]`` (negative from the
end), ``[*]`` and ``.*`` (every element or value). Several results are joined by a space, a
string printed as it is and anything else as JSON, and a field that is not there gives nothing
(kubectl's default, --allow-missing-template-keys). What this does not do (``range``/``end``,
filters ``[?()]``, slices, ``..``) is refused by name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import OrasError


class TemplateError(OrasError):
    """A template this reader cannot run; the message names the part."""


_STEP = re.compile(r"""\.(?P<field>[A-Za-z0-9_\-/$]+|\*)|\[(?P<index>-?\d+|\*)\]|\[(?P<quote>['"])(?P<key>[^'"]*)(?P=quote)\]""")
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')


def _steps(expression: str, template: str) -> list[str | int | None]:
    """The path of one expression: field names, indexes, and None for "every"."""
    if expression.split(" ", 1)[0] in ("range", "end"):
        raise TemplateError(f"-o jsonpath: {{{expression}}} in {template!r}: range is not supported; "
                            "use -o json (and jq) for loops")
    if expression[:1] in ("@", "$"):  # the current object, and the root: both the data here
        expression = expression[1:]
    if expression in (".", "$", ""):
        return []
    steps: list[str | int | None] = []
    at = 0
    while at < len(expression):
        if expression.startswith("..", at):
            raise TemplateError(f"-o jsonpath: {{{expression}}}: recursive descent (..) is not supported")
        match = _STEP.match(expression, at)
        if match is None:
            rest = expression[at:]
            what = "filters [?()]" if rest.startswith("[?") else "slices [a:b]" if rest.startswith("[") and ":" in rest \
                else f"{rest!r}"
            raise TemplateError(f"-o jsonpath: {{{expression}}} in {template!r}: {what} not supported "
                                "(fields, [N], [*] and ['key'] are)")
        if match["field"] is not None:
            steps.append(None if match["field"] == "*" else match["field"])
        elif match["index"] is not None:
            steps.append(None if match["index"] == "*" else int(match["index"]))
        else:
            steps.append(match["key"])
        at = match.end()
    return steps


def _walk(values: list[Any], step: str | int | None) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if step is None:
            out += list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
        elif isinstance(step, int):
            if isinstance(value, list) and -len(value) <= step < len(value):
                out.append(value[step])
        elif isinstance(value, dict) and step in value:
            out.append(value[step])
    return out


def _literal(text: str, template: str) -> str | None:
    """The string an expression such as ``"\\n"`` stands for, or None when it is no string."""
    literal = _STRING.match(text)
    if literal is None:
        return None
    try:
        return str(json.loads(f'"{literal[1]}"'))
    except ValueError as e:
        raise TemplateError(f"-o jsonpath: {{{text}}} in {template!r}: {text} is not a JSON string ({e})") from None


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def split_template(template: str) -> list[tuple[bool, str]]:
    """(is an expression, text) for each part of the template; unbalanced braces refused."""
    parts: list[tuple[bool, str]] = []
    at = 0
    while at < len(template):
        start = template.find("{", at)
        if start < 0:
            parts.append((False, template[at:]))
            break
        if start > at:
            parts.append((False, template[at:start]))
        end = template.find("}", start)
        if end < 0:
            raise TemplateError(f"-o jsonpath: {template!r}: a '{{' at {start} is not closed")
        parts.append((True, template[start + 1:end].strip()))
        at = end + 1
    return parts


def render(template: str, data: Any) -> str:
    """The template's text with each expression replaced by what it finds in ``data``. A list is
    seen as kubectl sees one, ``{"items": [...]}``."""
    root = {"items": data} if isinstance(data, list) else data
    out: list[str] = []
    for expression, text in split_template(template):
        if not expression:
            out.append(text)
            continue
        literal = _literal(text, template)
        if literal is not None:
            out.append(literal)
            continue
        values = [root]
        for step in _steps(text, template):
            values = _walk(values, step)
        out.append(" ".join(_shown(v) for v in values))
    return "".join(out)


def check(template: str) -> str:
    """The template, when this reader can run it (before the command does its work)."""
    for expression, text in split_template(template):
        if expression and _literal(text, template) is None:
            _steps(text, template)
    return template
