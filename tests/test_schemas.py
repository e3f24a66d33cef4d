"""Tests for the JSON Schemas in ``schemas/`` and their fixtures.

Self-contained: needs only pytest, jsonschema and the standard library (no conftest).

Fixture layout: ``tests/fixtures/schemas/<schema>/{valid,invalid}/*.json`` where
<schema> is ``manifest``, ``registry`` or ``config``.  An invalid fixture is named
``<pointer>--<keyword>[--<suffix>].json``: <pointer> is the JSON pointer of the one
error with "/" replaced by "." and the leading "/" dropped (``root`` for the
document root), <keyword> is the failing JSON Schema keyword (see
``error_keyword``), <suffix> only disambiguates file names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schemas"
FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "schemas"

SCHEMAS = {
    "manifest": "manifest-v1.schema.json",
    "registry": "registry-v1.schema.json",
    "config": "config-v1.schema.json",
}


# --------------------------------------------------------------------------- helpers


def load_json(path: Path):
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


_VALIDATORS: dict[str, Draft202012Validator] = {}


def validator_for(kind: str) -> Draft202012Validator:
    if kind not in _VALIDATORS:
        _VALIDATORS[kind] = Draft202012Validator(load_json(SCHEMA_DIR / SCHEMAS[kind]))
    return _VALIDATORS[kind]


def pointer(error: ValidationError) -> str:
    """RFC 6901 JSON pointer of the instance location of ``error``."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    return "".join("/" + p for p in parts)


def error_keyword(error: ValidationError) -> str:
    """The keyword a fixture name refers to.

    Normally ``error.validator``.  jsonschema reports an invalid property *name*
    with the keyword of the subschema that failed (e.g. "pattern") at the
    location of the object; we name those fixtures after ``propertyNames``,
    which is what the user must fix.  A bare ``false`` subschema would be
    reported with ``validator=None``; we map that to "false" (the schemas use
    ``{"not": {}}`` instead, see the schema files).
    """
    path = list(error.relative_schema_path)
    if "propertyNames" in path:
        return "propertyNames"
    if error.validator is None:
        return "false"
    return str(error.validator)


def walk(errors):
    """All errors, including nested ones from ``error.context`` (anyOf/oneOf...)."""
    for error in errors:
        yield error
        yield from walk(error.context or ())


def fixture_params(state: str):
    params = []
    for kind in SCHEMAS:
        for path in sorted((FIXTURE_DIR / kind / state).glob("*.json")):
            params.append(pytest.param(kind, path, id=f"{kind}/{path.stem}"))
    return params


def expected_from_name(path: Path) -> tuple[str, str]:
    parts = path.stem.split("--")
    assert len(parts) in (2, 3), f"bad fixture name {path.name!r}: want <pointer>--<keyword>[--<suffix>]"
    where, keyword = parts[0], parts[1]
    ptr = "" if where == "root" else "/" + where.replace(".", "/")
    return ptr, keyword


def is_valid(kind: str, instance) -> bool:
    return not list(validator_for(kind).iter_errors(instance))


# --------------------------------------------------------------------------- schema files


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_schema_file_exists(kind):
    assert (SCHEMA_DIR / SCHEMAS[kind]).is_file()


SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.json"))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[p.name for p in SCHEMA_FILES])
def test_schema_is_valid_draft_2020_12(path):
    schema = load_json(path)
    Draft202012Validator.check_schema(schema)
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    assert "$id" in schema and schema["$id"].endswith("/" + path.name)
    assert schema["$id"] == f"https://claudex.dev/schemas/{path.name}"
    assert schema.get("title") and schema.get("description")


def _properties_maps(node, where="#"):
    """Yield (location, properties-dict) for every ``properties`` keyword in a schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                yield f"{where}/properties", value
                for name, sub in value.items():
                    yield from _properties_maps(sub, f"{where}/properties/{name}")
            else:
                yield from _properties_maps(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _properties_maps(item, f"{where}/{i}")


def _object_schemas(node, where="#"):
    """Yield (location, schema) for every subschema that declares ``properties``."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and node.get("type") in ("object", ["object", "null"]):
            yield where, node
        for key, value in node.items():
            yield from _object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _object_schemas(item, f"{where}/{i}")


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_property_has_a_description(kind):
    schema = load_json(SCHEMA_DIR / SCHEMAS[kind])
    missing = []
    for where, props in _properties_maps(schema):
        if "/if/" in where + "/" or where.endswith("/if/properties"):
            continue  # conditions, not documentation
        for name, sub in props.items():
            if not (isinstance(sub, dict) and isinstance(sub.get("description"), str) and sub["description"].strip()):
                missing.append(f"{where}/{name}")
    assert not missing, f"properties without description: {missing}"


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_fixed_shape_objects_are_closed(kind):
    """Every object with declared properties rejects unknown keys (typos)."""
    schema = load_json(SCHEMA_DIR / SCHEMAS[kind])
    open_objects = [where for where, node in _object_schemas(schema) if node.get("additionalProperties") is not False]
    assert not open_objects, f"objects without additionalProperties: false: {open_objects}"


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_top_level_dollar_schema_key_is_allowed(kind):
    schema = load_json(SCHEMA_DIR / SCHEMAS[kind])
    assert schema["properties"]["$schema"]["type"] == "string"


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_no_oneof_anyof(kind):
    text = (SCHEMA_DIR / SCHEMAS[kind]).read_text(encoding="utf-8")
    assert '"oneOf"' not in text and '"anyOf"' not in text


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_fixture_counts(kind):
    valid = list((FIXTURE_DIR / kind / "valid").glob("*.json"))
    invalid = list((FIXTURE_DIR / kind / "invalid").glob("*.json"))
    assert len(valid) >= 4
    assert len(invalid) >= (15 if kind == "manifest" else 10)


@pytest.mark.parametrize(("kind", "path"), fixture_params("valid"))
def test_valid_fixture(kind, path):
    errors = list(validator_for(kind).iter_errors(load_json(path)))
    assert not errors, "\n".join(f"{pointer(e) or '/'}: [{error_keyword(e)}] {e.message}" for e in errors)


@pytest.mark.parametrize(("kind", "path"), fixture_params("invalid"))
def test_invalid_fixture(kind, path):
    expected = expected_from_name(path)
    top_level = list(validator_for(kind).iter_errors(load_json(path)))
    found = [(pointer(e), error_keyword(e)) for e in walk(top_level)]
    summary = "\n".join(f"  {p or '(root)'} [{k}]" for p, k in found)
    assert expected in found, f"expected {expected}, got:\n{summary}"
    assert len(top_level) == 1, f"fixture must contain exactly one mistake, got:\n{summary}"
    # the CLI prints the failing subschema's description as a hint: there must be one
    error = top_level[0]
    assert isinstance(error.schema, dict) and error.schema.get("description"), "no hint for this error"


# --------------------------------------------------------------------------- patterns


def _manifest_with(**compat):
    return {
        "apiVersion": "v1",
        "metadata": {"name": "x", "version": "1.0.0", "description": "d"},
        "server": {"command": "x"},
        "compatibility": compat,
    }


VALID_SEMVER_RANGES = [
    ">=0.1.0 <1.0.0",
    "^1.2",
    "~0.3.1",
    "1.x",
    "*",
    ">=1.0.0 || >=2.0.0-beta.1",
    "1",
    "1.2",
    "1.2.3",
    "=1.2.3",
    "<2",
    "<=2.0.0",
    ">1.0.0",
    "x",
    "X",
    "1.X",
    "1.*",
    "1.2.x",
    "1.2.*",
    "1.x.x",
    "x.x",
    "*.*.*",
    "X.x.*",
    "0.0.0",
    "^0.0.1",
    "~1",
    "^1.0.0-rc.1",
    "1.2.3-alpha",
    "1.2.3-alpha.1",
    "1.2.3-0.3.7",
    "1.2.3-x.7.z.92",
    "1.2.3-alpha-beta",
    "1.2.3-0alpha",
    ">=1.2.3-beta.2 <1.2.3",
    "1.0.0||2.0.0",
    "1.0.0 ||2.0.0",
    "1.0.0  ||  2.0.0",
    "^1.2 || ^2 || ~3.4.5",
    ">=1 <2 || >=3 <4",
    "10.20.30",
    ">=0.10.0 <0.100.0",
]

INVALID_SEMVER_RANGES = [
    ">= 1.0",
    "1..2",
    "latest",
    ">=1.0.0,<2",
    "",
    " ",
    " 1.0.0",
    "1.0.0 ",
    ">=1.0.0  <2.0.0",
    "||",
    "1.0.0 ||",
    "|| 1.0.0",
    "1.0.0 | 2.0.0",
    "=>1.0.0",
    "~>1.2",
    "^^1",
    ">",
    "v1.2.3",
    "01.2.3",
    "1.02.3",
    "1.2.03",
    "1.2.3.4",
    "1.2.3+build",
    "1.2-beta",
    "1-beta",
    "1.2.3-",
    "1.2.3-beta..1",
    "1.2.3-01",
    "1.0.0 - 2.0.0",
    "*.1",
    "x.1",
    "1.x.3",
    "1.*.0",
    "1.2.x-beta",
    "1.2.3\t",
    "-1.0.0",
    "1.0.0 || || 2.0.0",
    "a.b.c",
    "١.٢.٣",
]


@pytest.mark.parametrize("value", VALID_SEMVER_RANGES)
def test_semver_range_valid(value):
    assert is_valid("manifest", _manifest_with(claudex=value)), value


@pytest.mark.parametrize("value", INVALID_SEMVER_RANGES)
def test_semver_range_invalid(value):
    errors = list(validator_for("manifest").iter_errors(_manifest_with(claudex=value)))
    assert [(pointer(e), error_keyword(e)) for e in errors] == [("/compatibility/claudex", "pattern")], value


VALID_MCP_RANGES = [
    ">=2025-03-26",
    "2025-06-18",
    ">=2024-11-05 <2026-01-01",
    "*",
    "=2025-06-18",
    "<=2025-06-18",
    ">2024-11-05",
    "<2026-01-01",
    "2024-11-05 || 2025-03-26 || 2025-06-18",
    "2024-11-05||2025-06-18",
    ">=2024-11-05 <2025-03-26 || >=2025-06-18",
    "2025-12-31",
    "2025-10-01",
]

INVALID_MCP_RANGES = [
    "",
    "latest",
    "2025-6-18",
    "2025-06-8",
    "25-06-18",
    "2025/06/18",
    "20250618",
    "2025-13-01",
    "2025-00-10",
    "2025-06-00",
    "2025-06-32",
    ">= 2025-03-26",
    ">=2025-03-26,<2026-01-01",
    ">=2025-03-26  <2026-01-01",
    "^2025-03-26",
    "~2025-03-26",
    "2025-06-18 ",
    " 2025-06-18",
    "2025-06-18 ||",
    "2025-06",
    "1.0.0",
    "2025-06-18T00:00:00Z",
    "**",
]


@pytest.mark.parametrize("value", VALID_MCP_RANGES)
def test_mcp_range_valid(value):
    assert is_valid("manifest", _manifest_with(mcp=value)), value


@pytest.mark.parametrize("value", INVALID_MCP_RANGES)
def test_mcp_range_invalid(value):
    errors = list(validator_for("manifest").iter_errors(_manifest_with(mcp=value)))
    assert [(pointer(e), error_keyword(e)) for e in errors] == [("/compatibility/mcp", "pattern")], value


def _manifest_version(version):
    return {
        "apiVersion": "v1",
        "metadata": {"name": "x", "version": version, "description": "d"},
        "server": {"command": "x"},
    }


VALID_SEMVERS = [
    "0.0.0",
    "0.1.0",
    "1.2.3",
    "10.20.30",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-0.3.7",
    "1.0.0-x.7.z.92",
    "1.0.0-x-y-z.--",
    "1.0.0-alpha+001",
    "1.0.0+20130313144700",
    "1.0.0-beta+exp.sha.5114f85",
    "1.0.0+21AF26D3----117B344092BD",
    "2.0.0-rc.1+build.123",
    "99999999999999999999999.999999999999999999.99999999999999999",
]

INVALID_SEMVERS = [
    "",
    "1",
    "1.2",
    "1.2.3.4",
    "v1.2.3",
    "01.1.1",
    "1.01.1",
    "1.1.01",
    "1.2.3-",
    "1.2.3-0123",
    "1.2.3-beta..1",
    "1.2.3+",
    "1.2.3+build..1",
    "1.2.3-beta!",
    " 1.2.3",
    "1.2.3 ",
    "1.2",
    "latest",
    "^1.2.3",
]


@pytest.mark.parametrize("value", VALID_SEMVERS)
def test_semver_valid(value):
    assert is_valid("manifest", _manifest_version(value)), value


@pytest.mark.parametrize("value", INVALID_SEMVERS)
def test_semver_invalid(value):
    errors = list(validator_for("manifest").iter_errors(_manifest_version(value)))
    assert [(pointer(e), error_keyword(e)) for e in errors] == [("/metadata/version", "pattern")], value


VALID_NAMES = ["a", "0", "qdrant", "docker-mgmt", "mcp-2", "a-", "9lives", "a" * 63, "a" + "-" * 62]
INVALID_NAMES = ["", "a" * 64, "-x", "X", "Qdrant", "a_b", "../x", "a.b", "a b", "a/b", "ä", "docker--mgmt "]


@pytest.mark.parametrize("value", VALID_NAMES)
def test_server_name_valid(value):
    doc = _manifest_version("1.0.0")
    doc["metadata"]["name"] = value
    assert is_valid("manifest", doc)
    assert is_valid("registry", {"apiVersion": "v1", "servers": {value: {
        "location": "core", "version": "1.0.0", "source": {"type": "core"}}}})
    assert is_valid("config", {"servers": {value: {}}})


@pytest.mark.parametrize("value", INVALID_NAMES)
def test_server_name_invalid(value):
    doc = _manifest_version("1.0.0")
    doc["metadata"]["name"] = value
    errors = list(validator_for("manifest").iter_errors(doc))
    assert [(pointer(e), error_keyword(e)) for e in errors] == [("/metadata/name", "pattern")]
    assert not is_valid("registry", {"apiVersion": "v1", "servers": {value: {
        "location": "core", "version": "1.0.0", "source": {"type": "core"}}}})
    errors = list(validator_for("config").iter_errors({"servers": {value: {}}}))
    assert [(pointer(e), error_keyword(e)) for e in errors] == [("/servers", "propertyNames")]


VALID_ENV_NAMES = ["A", "_X", "API_KEY2", "_", "__", "QDRANT_URL", "A1_B2"]
INVALID_ENV_NAMES = ["", "a", "1A", "A-B", "Api_Key", "A B", "A.B", "$A", "ÄPI"]


def _manifest_env(name):
    doc = _manifest_version("1.0.0")
    doc["server"]["env"] = {name: "v"}
    doc["server"]["requiredEnv"] = [name, {"name": name}]
    return doc


@pytest.mark.parametrize("value", VALID_ENV_NAMES)
def test_env_var_name_valid(value):
    doc = _manifest_env(value)
    doc["server"]["requiredEnv"] = [value]
    doc["server"]["optionalEnv"] = [{"name": value, "secret": False}]
    assert is_valid("manifest", doc)
    assert is_valid("config", {"servers": {"x": {"env": {value: None}}}})


@pytest.mark.parametrize("value", INVALID_ENV_NAMES)
def test_env_var_name_invalid(value):
    errors = list(validator_for("manifest").iter_errors(_manifest_env(value)))
    assert sorted((pointer(e), error_keyword(e)) for e in errors) == [
        ("/server/env", "propertyNames"),
        ("/server/requiredEnv/0", "pattern"),
        ("/server/requiredEnv/1/name", "pattern"),
    ]
    errors = list(validator_for("config").iter_errors({"servers": {"x": {"env": {value: "v"}}}}))
    assert [(pointer(e), error_keyword(e)) for e in errors] == [("/servers/x/env", "propertyNames")]


# --------------------------------------------------------------------------- behaviour details


def test_transport_defaults_to_stdio():
    doc = _manifest_version("1.0.0")
    assert is_valid("manifest", doc)
    doc["server"] = {"url": "https://example.com/mcp"}
    errors = list(validator_for("manifest").iter_errors(doc))
    assert sorted((pointer(e), error_keyword(e)) for e in errors) == [
        ("/server", "required"),
        ("/server/url", "not"),
    ]


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_remote_forbids_every_local_key_at_its_own_pointer(transport):
    doc = _manifest_version("1.0.0")
    doc["server"] = {"transport": transport, "url": "https://example.com/mcp",
                     "command": "x", "args": [], "env": {}}
    errors = list(validator_for("manifest").iter_errors(doc))
    assert sorted((pointer(e), error_keyword(e)) for e in errors) == [
        ("/server/args", "not"),
        ("/server/command", "not"),
        ("/server/env", "not"),
    ]
    # the forbidding subschema carries a human hint
    assert all(e.schema.get("description") for e in errors)


def test_config_accepts_null_for_every_server_key():
    keys = load_json(SCHEMA_DIR / SCHEMAS["config"])["$defs"]["serverConfig"]["properties"]
    assert is_valid("config", {"servers": {"x": {k: None for k in keys}}})


def test_config_settings_are_free_form():
    settings = {"Any Key": [1, {"nested": None}], "n": 1.5, "b": False, "s": ""}
    assert is_valid("config", {"servers": {"x": {"settings": settings}}})


def test_one_name_rule_for_the_schemas_and_the_code():
    """Every schema's serverName is the code's paths.NAME_PATTERN, anchored as JSON Schema needs."""
    import json

    from claudex_mcp import paths

    for kind in ("manifest", "registry", "config"):
        doc = json.loads(paths.schema_file(kind).read_text())
        assert doc["$defs"]["serverName"]["pattern"] == f"^{paths.NAME_PATTERN}(?!\\n)$", kind
