"""Hypothesis strategies for hostile MQTT payloads."""

from __future__ import annotations

import json
import os
import string
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Examples per fuzz test; for a deeper local run:
#: DOCBOX_FUZZ_EXAMPLES=2000 ./dev.sh pytest tests/fuzz
FUZZ_EXAMPLES = int(os.environ.get("DOCBOX_FUZZ_EXAMPLES", "100"))

#: Settings of every fuzz test (module-scoped targets are reused across examples on purpose).
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

B64 = string.ascii_letters + string.digits + "-_"

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def json_bytes(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Encode generated JSON values as payload bytes."""
    return values.map(lambda v: json.dumps(v).encode())


def objects_with_keys(keys: list[str]) -> st.SearchStrategy[bytes]:
    """JSON objects whose keys are mostly the model's own, with hostile values."""
    key = st.sampled_from(keys) | st.text(max_size=8)
    obj = st.dictionaries(key, json_values, max_size=len(keys) + 2).map(
        lambda d: {"v": 1, **d} if "v" not in d else d
    )
    return json_bytes(obj)


def mutate_json(raw: bytes, data: st.DataObject) -> bytes:
    """Replace, delete or add one top-level field of a valid JSON object."""
    obj = json.loads(raw)
    field = data.draw(st.sampled_from(sorted(obj)) | st.text(min_size=1, max_size=8))
    action = data.draw(st.sampled_from(["replace", "delete", "flip"]))
    if action == "delete":
        obj.pop(field, None)
    elif action == "flip" and isinstance(obj.get(field), str) and obj[field]:
        text = obj[field]
        i = data.draw(st.integers(0, len(text) - 1))
        replacement = data.draw(st.sampled_from(B64).filter(lambda c: c != text[i]))
        obj[field] = text[:i] + replacement + text[i + 1 :]
    else:
        obj[field] = data.draw(json_values)
    return json.dumps(obj).encode()
