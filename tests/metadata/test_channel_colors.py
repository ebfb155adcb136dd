"""Channel-name matching for guessed colours, against its regex definition."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from ome_writers.metadata._colors import NAMED, _matches

NAMES = sorted({n for _, names in NAMED for n in names})


def _by_regex(text: str, name: str) -> bool:
    """The rule as a regular expression: `name` starts a word; numbers and
    names of up to three letters are whole words."""
    if name[-1].isdigit():
        tail = r"(?!\d)"
    elif len(name) <= 3:
        tail = r"(?![a-z])"
    else:
        tail = ""
    return re.search(rf"(?<![a-z0-9]){re.escape(name)}{tail}", text) is not None


# texts built from the table's names, their pieces and separators, so that
# matches, near-misses and word boundaries all occur
_PIECES = st.sampled_from([*NAMES, "a", "z", "0", "9", "٣", " ", ".", "/", "x"])


@given(st.lists(_PIECES, max_size=6).map("".join), st.sampled_from(NAMES))
def test_matching_agrees_with_the_regex_rule(text: str, name: str) -> None:
    assert _matches(text, name) == _by_regex(text, name)


def test_examples() -> None:
    assert _matches("alexa 488 ", "488")
    assert not _matches("alexa 4880", "488")
    assert not _matches("mirror", "ir")
    assert _matches("near ir", "ir")
    assert _matches("ir2", "ir")  # a digit ends a short name's word
    assert _matches("cy5.5", "cy5")
    assert not _matches("xdapi", "dapi")
    assert _matches("dapix", "dapi")  # longer names only need to start a word
