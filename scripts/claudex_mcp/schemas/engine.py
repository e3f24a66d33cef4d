"""Validating a JSON document against one of the claudex schemas, every problem at once.

jsonschema is imported here, on first use, never at start-up.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from claudex_mcp import paths

@lru_cache(maxsize=None)
def load_schema(kind: str) -> dict:
    with open(paths.schema_file(kind), encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=None)
def _validator(kind: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(kind))


def pointer(parts) -> str:
    """RFC 6901 JSON pointer of a path of keys and indexes ("" is the document root)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _leaves(error):
    # if/then/else and $ref errors carry the precise failures in their context.
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _resolve(schema: Any, root: dict) -> Any:
    while isinstance(schema, dict) and "$ref" in schema and schema["$ref"].startswith("#/"):
        node: Any = root
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _describe(schema: Any, root: dict) -> str | None:
    schema = _resolve(schema, root)
    return schema.get("description") if isinstance(schema, dict) else None


def show(value: Any, limit: int = 80) -> str:
    """A value as it is written in JSON (``true``, ``"x"``, ``null``), never a Python repr, cut
    short when long: messages quote what the user wrote."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _types(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(str(n) for n in names)


def _message(error) -> str:
    """jsonschema's message with the values in JSON (its own quotes them with repr)."""
    rule, instance, expected = error.validator, error.instance, error.validator_value
    if rule == "type":
        return f"{show(instance)} is not of type {_types(expected)}"
    if rule == "const":
        return f"{show(expected)} was expected, not {show(instance)}"
    if rule == "enum":
        return f"{show(instance)} is not one of {show(expected)}"
    if rule == "pattern":
        return f"{show(instance)} does not have the required format"
    message = error.message
    prefix = repr(instance)
    if message.startswith(prefix):  # "0 is less than the minimum of 1", "[] is too short"...
        message = show(instance) + message[len(prefix):]
    return message


def _problem(error, root: dict) -> dict:
    where = pointer(error.absolute_path)
    rule = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    message = _message(error)
    hint = _describe(schema, root)
    extra: dict = {}
    if "propertyNames" in error.absolute_schema_path:
        # jsonschema reports a bad key at its object, with the key itself as the instance.
        rule = "propertyNames"
        message = f"invalid key {show(error.instance)}"
    elif rule == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        message = f"missing required key {show(missing)}"
        hint = _describe(_property_schema(root, list(error.absolute_schema_path), missing), root) \
            or f"add the key {show(missing)}"
        extra["missing"] = missing
    elif rule == "additionalProperties":
        allowed = sorted(_resolve(schema, root).get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        message = "unknown key" + ("s " if len(unknown) > 1 else " ") + ", ".join(show(k) for k in unknown)
        guesses = [g for k in unknown for g in difflib.get_close_matches(k, allowed, n=1)]
        hint = (f"did you mean {', '.join(show(g) for g in guesses)}? " if guesses else "") + \
            f"allowed keys here: {', '.join(allowed)}"
        extra["guesses"] = guesses
    elif rule == "not":
        # A key forbidden by the object's other settings ({"not": {}}); its description says why.
        key = error.absolute_path[-1] if error.absolute_path else ""
        message = f"key {show(key)} is not allowed here"
    if len(message) > 200:  # jsonschema quotes the whole offending value
        message = message[:197] + "..."
    return {"pointer": where, "rule": rule, "message": message, "hint": hint, **extra}


def _property_schema(root: dict, schema_path: list, key: str) -> Any:
    """The schema of property ``key`` of the nearest enclosing object schema on the path
    (a `required` inside if/then/else names a property declared one level up)."""
    for end in range(len(schema_path), -1, -1):
        node: Any = root
        try:
            for part in schema_path[:end]:
                node = _resolve(node, root)[part]
        except (KeyError, IndexError, TypeError):
            continue
        props = _resolve(node, root).get("properties") if isinstance(_resolve(node, root), dict) else None
        if isinstance(props, dict) and key in props:
            return props[key]
    return None


def _fold_typos(problems: list[dict]) -> list[dict]:
    """A misspelt required key is one mistake: keep "unknown key 'comand' (did you mean
    'command'?)" and drop "missing required key 'command'" at the same place."""
    guessed = {(p["pointer"], g) for p in problems for g in p.get("guesses", ())}
    kept = [p for p in problems if (p["pointer"], p.get("missing")) not in guessed]
    return [{k: v for k, v in p.items() if k not in ("guesses", "missing")} for p in kept]


def validate(doc: Any, kind: str) -> list[dict]:
    """All schema problems of ``doc`` as dicts (pointer, rule, message, hint), in document order."""
    root = load_schema(kind)
    problems = []
    for error in _validator(kind).iter_errors(doc):
        for leaf in _leaves(error):
            problems.append(_problem(leaf, root))
    unique = {(p["pointer"], p["rule"], p["message"]): p for p in _fold_typos(problems)}
    return sorted(unique.values(), key=lambda p: (p["pointer"], p["rule"]))
