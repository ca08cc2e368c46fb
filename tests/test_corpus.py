"""The malformed-input corpus (:mod:`tests.corpus`): every case gives what it expects.

More than a thousand inputs derived from the demo county and the tiny county, in every
format GapMap reads, each run through its entry point and judged: no exception other
than GapMap's own, every problem located (file, layer, row, field), nothing invalid
analysed as valid, nothing valid refused. The corpus is split into chunks so that
pytest-xdist spreads it over the workers (``-n 2``: about a minute).
"""

from __future__ import annotations

import pytest

from layers.schema import LAYER_ORDER
from tests import corpus

N_CHUNKS = 16
CASES = corpus.all_cases()
CHUNKS = [CASES[i::N_CHUNKS] for i in range(N_CHUNKS)]


def test_corpus_covers_every_format_and_class():
    assert len(CASES) >= 1000
    assert len({c.id for c in CASES}) == len(CASES)
    formats = {c.fmt for c in CASES}
    assert formats >= {"gpkg", "shp", "geojson", "kml", "kmz", "csv", "xlsx", "zip"}
    assert {f for f in formats if f.startswith("zip-")} >= {"zip-shp", "zip-csv", "zip-gpkg"}
    kinds = {c.cls.split(":")[0] for c in CASES}
    assert kinds == {"crash", "silent", "unhelpful", "refused"}
    must_fail = [c for c in CASES if c.expect.fail]
    assert all(c.expect.codes for c in must_fail)
    assert 0.3 < len(must_fail) / len(CASES) < 0.9
    assert all(c.expect.check is not None for c in CASES if not c.expect.fail)
    layers = {c.expect.layer for c in must_fail if c.expect.layer}
    assert layers <= set(LAYER_ORDER)


def test_the_judge_can_fail(tmp_path):
    """A case expecting the wrong thing is not judged ok: the corpus test can fail."""
    valid = next(c for c in CASES if c.id.endswith("-gpkg-valid-0"))
    wrong = corpus.Case(
        valid.id, valid.cls, valid.fmt, valid.entry, valid.build, corpus.must_fail("missing_field")
    )
    assert corpus.run_case(wrong, tmp_path / "a").outcome == "silent"
    bad = next(c for c in CASES if c.id.endswith("-gpkg-duplicate_id-0"))
    wrong = corpus.Case(bad.id, bad.cls, bad.fmt, bad.entry, bad.build, corpus.must_pass())
    assert corpus.run_case(wrong, tmp_path / "b").outcome == "refused"
    row = corpus.must_fail("duplicate_id", layer=bad.expect.layer, row=10_000)
    wrong = corpus.Case(bad.id, bad.cls, bad.fmt, bad.entry, bad.build, row)
    assert corpus.run_case(wrong, tmp_path / "c").outcome == "unhelpful"


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(N_CHUNKS))
def test_corpus_chunk(chunk, tmp_path):
    outcomes = [corpus.run_case(case, tmp_path / str(i)) for i, case in enumerate(CHUNKS[chunk])]
    bad = [o for o in outcomes if o.outcome != "ok"]
    assert not bad, "\n".join(f"{o.outcome} {o.case} [{o.cls}]: {o.detail}" for o in bad)
