"""MapAnnotation text of per-frame values: numbers written without the JSON
encoder read as the encoder writes them; keys and strings are escaped."""

from __future__ import annotations

import json
import math
from xml.etree import ElementTree

import pytest

from ome_writers.metadata._ome_xml_text import escape, map_annotation, quoteattr

VALUES = [
    0,
    -7,
    10**20,
    0.1,
    -2.5,
    1e-7,
    1e300,
    math.inf,
    -math.inf,
    math.nan,
    True,
    None,
    "a<b & c>\r",
    [1, "x<"],
    {"a": 1.5},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_as_json_text(value: object) -> None:
    key = 'k<&>"\n'
    lines = map_annotation("Annotation:0:0", None, [(key, value)])
    expected_value = value if isinstance(value, str) else json.dumps(value)
    element = ElementTree.fromstring("\n".join(lines))
    (m,) = element.iter("M")
    assert m.get("K") == key
    assert (m.text or "") == expected_value
    as_json = map_annotation("A", None, [(key, value)], as_json=True)
    (m,) = ElementTree.fromstring("\n".join(as_json)).iter("M")
    assert (m.text or "") == json.dumps(value)


def test_escape_leaves_plain_text_as_it_is() -> None:
    plain = "exposure_ms"
    assert escape(plain) is plain
    assert escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    assert quoteattr("x\ny\t\"'") == '"x&#10;y&#9;&quot;\'"'
