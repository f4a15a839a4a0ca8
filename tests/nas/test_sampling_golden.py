"""The same seed gives the same architectures as it always did, on every grammar.

``data/sampling_golden.json`` holds, per grammar and input shape, a digest of the
strings of seeds 0-59, recorded before the sampler was sped up (issue 16). A change
that alters which architecture a seed gives fails here; if it is meant (a new sampling
rule), record the digests again with ``python tests/nas/test_sampling_golden.py`` and say
so in the commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from nas.space import list_grammars, load_space

GOLDEN = Path(__file__).parent / "data" / "sampling_golden.json"
SEEDS = range(60)


def digest(grammar: str, shape_text: str) -> str:
    """sha256 (16 hex) of the newline-joined strings of :data:`SEEDS`."""
    space = load_space(grammar)
    shape = tuple(int(p) for p in shape_text.split("x"))
    text = "\n".join(str(space.sample(shape, seed=s)) for s in SEEDS)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


CASES = sorted(json.loads(GOLDEN.read_text()).items())


def test_every_grammar_is_covered():
    assert {key.split()[0] for key, _ in CASES} == set(list_grammars())


@pytest.mark.parametrize("key, expected", CASES, ids=[key for key, _ in CASES])
def test_a_seed_gives_the_recorded_architectures(key, expected):
    grammar, shape = key.split()
    assert digest(grammar, shape) == expected


if __name__ == "__main__":  # record the digests again (only for a meant change)
    GOLDEN.write_text(json.dumps({key: digest(*key.split()) for key, _ in CASES}, indent=1)
                      + "\n")
