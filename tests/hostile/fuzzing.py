"""Shared pieces of the fuzz suite: settings, counters and byte-level mutations.

Every fuzz test runs a fixed number of derandomized examples (the same inputs on every
CI run), scaled by ``$NAS_FUZZ_SCALE`` (e.g. 10 for a longer local hunt); with
``NAS_FUZZ_RANDOM=1`` each run draws new inputs.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("NAS_FUZZ_SCALE", "1"))
RANDOM = bool(os.environ.get("NAS_FUZZ_RANDOM"))


def fuzz_settings(examples: int):
    """Hypothesis settings of one fuzz test: ``examples`` cases, derandomized, no deadline."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None,
                    derandomize=not RANDOM, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


#: bytes that break parsers: quotes, separators, brackets, NUL, invalid UTF-8, a BOM
NASTY = [b'"', b"'", b",", b";", b"\n", b"\r\n", b"\t", b"(", b")", b"[", b"{", b":",
         b"|", b"%", b"//", b"\x00", b"\xff", b"\xe9", b"\xef\xbb\xbf", b"nan", b"inf",
         b"-1", b"1e309", b"0" * 40, "é".encode(), "\u2028".encode()]

_EDIT = st.tuples(st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate",
                                   "flip"]),
                  st.floats(0, 1), st.integers(1, 64), st.sampled_from(NASTY))


@st.composite
def mutated(draw, data: bytes, max_edits: int = 4) -> bytes:
    """``data`` with up to ``max_edits`` random edits (possibly none)."""
    for kind, where, length, chunk in draw(st.lists(_EDIT, max_size=max_edits)):
        at = int(where * len(data))
        if kind == "insert":
            data = data[:at] + chunk + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + length:]
        elif kind == "replace":
            data = data[:at] + chunk + data[at + len(chunk):]
        elif kind == "duplicate":
            data = data[:at + length] + data[at:]
        elif kind == "truncate":
            data = data[:at]
        elif data:
            i = min(at, len(data) - 1)
            data = data[:i] + bytes([data[i] ^ (1 << (length % 8))]) + data[i + 1:]
    return data
