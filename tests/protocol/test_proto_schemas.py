"""The checked-in AsyncAPI document and JSON Schemas must match the models."""

import json

import jsonschema
import yaml

from docbox_protocol import schemagen
from docbox_protocol.topics import TOPIC_SPECS


def test_generated_files_are_not_stale() -> None:
    stale = schemagen.stale()
    assert stale == [], f"regenerate with: uv run docbox protocol schemas --write ({stale})"


def test_asyncapi_lists_every_channel_with_qos_and_retain() -> None:
    doc = yaml.safe_load((schemagen.PROTOCOL_DIR / "asyncapi.yaml").read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["channels"]) == {c.value for c in TOPIC_SPECS}
    for op in doc["operations"].values():
        channel = op["channel"]["$ref"].rsplit("/", 1)[1]
        spec = next(s for c, s in TOPIC_SPECS.items() if c.value == channel)
        assert op["bindings"]["mqtt"] == {"qos": spec.qos, "retain": spec.retained}
    # Every $ref in the document resolves.
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node = doc
        for key in ref.removeprefix("#/").split("/"):
            node = node[key]


def test_json_schemas_are_valid_and_accept_a_real_message() -> None:
    from datetime import UTC, datetime

    from docbox_protocol import encode
    from docbox_protocol.messages import BoxState, BoxStatus

    schemas = schemagen.json_schemas()
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    status = BoxStatus(box_id="box-1", state=BoxState.ONLINE, session=2, at=datetime.now(UTC))
    jsonschema.validate(json.loads(encode(status)), schemas["BoxStatus.json"])
