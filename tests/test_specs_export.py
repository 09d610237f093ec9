"""specs_export: the generated files, the --check mode, and examples that match their schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from webex_meetings import specs_export
from webex_meetings.core.lifecycle import spec_document
from webex_meetings.core.redaction import redact
from webex_meetings.specs_export import WIRE_MESSAGES, WireMessage

TRACE = Path(__file__).resolve().parent / "data" / "js-sdk-3.12-register-trace.jsonl"
TRACE_TOKEN_PREFIX = "FAKEACCESSTOKEN"

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def _type_ok(value: Any, names: str | list[str]) -> bool:
    names = [names] if isinstance(names, str) else names
    is_bool = isinstance(value, bool)
    return any(isinstance(value, _TYPES[n]) and (n == "boolean" or not is_bool) for n in names)


def violations(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """The subset of JSON Schema 2020-12 that our wire schemas use, checked strictly."""
    found: list[str] = []
    known = {"$schema", "title", "description", "type", "required", "properties", "items",
             "additionalProperties", "const", "pattern", "minimum", "minLength", "not"}  # fmt: skip
    assert set(schema) <= known, f"{path}: unsupported keywords {set(schema) - known}"
    if "type" in schema and not _type_ok(value, schema["type"]):
        return [f"{path}: {value!r} is not {schema['type']}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{path}: {value!r} != {schema['const']!r}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            found.append(f"{path}: too short")
    if isinstance(value, (int, float)) and value < schema.get("minimum", value):
        found.append(f"{path}: below minimum")
    if "not" in schema and not violations(value, schema["not"], path):
        found.append(f"{path}: matches a forbidden schema")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += violations(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        found += [f"{path}: missing {k}" for k in schema.get("required", []) if k not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found += violations(item, properties[key], f"{path}.{key}")
            elif extra is False:
                found.append(f"{path}: unexpected {key}")
            elif isinstance(extra, dict):
                found += violations(item, extra, f"{path}.{key}")
    return found


def test_the_validator_rejects_what_it_should() -> None:
    schema = next(m.schema for m in WIRE_MESSAGES if m.name == "mercury-buffer-state")
    good = next(m.example for m in WIRE_MESSAGES if m.name == "mercury-buffer-state")
    assert violations(good, schema) == []
    assert violations({**good, "type": "event"}, schema)  # envelopes have no top-level type
    assert violations({"data": good["data"]}, schema)
    assert violations({**good, "sequenceNumber": "1"}, schema)
    assert violations({**good, "filterMessage": 0}, schema)


@pytest.mark.parametrize("message", WIRE_MESSAGES, ids=lambda m: m.name)
def test_example_matches_its_schema(message: WireMessage) -> None:
    assert message.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert message.schema["required"], "every message has required fields"
    assert violations(message.example, message.schema) == []


def test_every_brief_message_is_exported() -> None:
    assert [m.name for m in WIRE_MESSAGES] == [
        "mercury-authorization",
        "mercury-ack",
        "mercury-ping",
        "mercury-pong",
        "mercury-buffer-state",
        "mercury-event",
        "wdm-device-request",
        "wdm-device-response",
        "u2c-catalog-response",
        "oauth-token-response",
    ]


def test_examples_carry_only_fake_tokens_that_redact_hides() -> None:
    for relative, text in specs_export.render().items():
        assert TRACE_TOKEN_PREFIX not in text, relative
        for token in (specs_export.FAKE_ACCESS_TOKEN, specs_export.FAKE_REFRESH_TOKEN):
            assert token not in redact(text), relative
    assert len(specs_export.FAKE_ACCESS_TOKEN.split("_")) == 3  # <opaque>_PF84_<orgId>


@pytest.mark.skipif(not TRACE.is_file(), reason="the reference trace copy is missing")
def test_mercury_examples_have_the_traced_shape() -> None:
    frames = [
        json.loads(line)["frame"]
        for line in TRACE.read_text(encoding="utf-8").splitlines()
        if '"kind":"ws-' in line and '"frame"' in line
    ]
    by_name = {m.name: m for m in WIRE_MESSAGES}
    traced = {
        "mercury-authorization": frames[0],
        "mercury-buffer-state": frames[1],
        "mercury-ack": frames[2],
        "mercury-ping": frames[3],
        "mercury-pong": frames[4],
    }
    for name, frame in traced.items():
        assert set(by_name[name].example) == set(frame), name
        assert violations(frame, by_name[name].schema) == [], name


# -- files and the command line ------------------------------------------------------------


def test_check_reports_drift_and_write_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert specs_export.main(["--check", "--root", str(tmp_path)]) == 1
    missing = capsys.readouterr().err
    assert "specs/lifecycle.json" in missing
    assert "specs/wire/mercury-ack.example.json" in missing

    assert specs_export.main(["--root", str(tmp_path)]) == 0
    assert specs_export.main(["--check", "--root", str(tmp_path)]) == 0

    (tmp_path / "lifecycle.mmd").write_text("stateDiagram-v2\n", encoding="utf-8")
    capsys.readouterr()
    assert specs_export.main(["--check", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "out of date: specs/lifecycle.mmd (run `make specs`)"
    ]
    assert specs_export.write(tmp_path) == ["lifecycle.mmd"]
    assert specs_export.write(tmp_path) == []


def test_lifecycle_json_is_the_spec_document() -> None:
    rendered = specs_export.render()["lifecycle.json"]
    assert rendered.endswith("}\n")
    assert json.loads(rendered) == spec_document()
