"""Generate the AsyncAPI 3.0 document and JSON Schemas from the message models.

The generated files are checked in (protocol/asyncapi.yaml, protocol/schemas/*.json) so that
other implementations can use them; a test fails when they are stale. Regenerate with
``docbox protocol schemas --write``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from docbox_protocol.messages import SCHEMA_VERSION, Command
from docbox_protocol.topics import ROOT, TOPIC_SPECS, Channel

#: protocol/ (the folder holding pyproject.toml) when running from a source checkout.
PROTOCOL_DIR = Path(__file__).resolve().parents[2]

_SCHEMA_MODELS: list[type[BaseModel]] = [spec.model for spec in TOPIC_SPECS.values()] + [Command]


def json_schemas() -> dict[str, dict[str, Any]]:
    """Return one standalone JSON Schema per wire model, keyed by file name."""
    out: dict[str, dict[str, Any]] = {}
    for model in _SCHEMA_MODELS:
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:docbox:protocol:v{SCHEMA_VERSION}:{model.__name__}"
        out[f"{model.__name__}.json"] = schema
    return out


def asyncapi() -> dict[str, Any]:
    """Return the AsyncAPI 3.0 document describing the topic map from the edge's side."""
    _, defs = models_json_schema(
        [(m, "validation") for m in _SCHEMA_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = defs.get("$defs", {})
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel, spec in TOPIC_SPECS.items():
        name = spec.model.__name__
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
        channels[channel.value] = {
            "address": f"{ROOT}/{{boxId}}/{channel.value}",
            "description": spec.description,
            "parameters": {"boxId": {"$ref": "#/components/parameters/boxId"}},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        # Operations are written from the edge agent's point of view.
        action = "send" if spec.sender == "edge" else "receive"
        operations[f"{action}{channel.value.capitalize()}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel.value}"},
            "messages": [{"$ref": f"#/channels/{channel.value}/messages/{name}"}],
            "bindings": {"mqtt": {"qos": spec.qos, "retain": spec.retained}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "docbox edge <-> cloud protocol",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "MQTT topics between a docbox pickup box (edge agent) and the docbox cloud. "
                "Works over MQTT 3.1.1; uses MQTT 5 features only where the broker offers them. "
                "See docs/protocol.md for ordering, deduplication and signing rules."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "broker.example:8883",
                "protocol": "secure-mqtt",
                "description": "TLS with one client certificate per box (CN = box id)",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "parameters": {
                "boxId": {"description": "Box id: ^[a-z0-9][a-z0-9-]{0,62}$"},
            },
            "messages": messages,
            "schemas": schemas,
        },
    }


def rendered_files() -> dict[str, str]:
    """Return every generated file's path (relative to protocol/) and text."""
    files = {"asyncapi.yaml": yaml.safe_dump(asyncapi(), sort_keys=False, allow_unicode=True, width=100)}
    for name, schema in json_schemas().items():
        files[f"schemas/{name}"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def write(target: Path = PROTOCOL_DIR) -> list[Path]:
    """Write the generated files below ``target`` and return their paths."""
    written = []
    for rel, text in rendered_files().items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(target: Path = PROTOCOL_DIR) -> list[str]:
    """Return the generated files whose checked-in copy differs from the models."""
    out = []
    for rel, text in rendered_files().items():
        path = target / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            out.append(rel)
    return out


__all__ = ["Channel", "asyncapi", "json_schemas", "rendered_files", "stale", "write"]
