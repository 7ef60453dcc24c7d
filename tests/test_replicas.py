"""The corpora of ablate.corpus_seeds: which store each seed's runs read, and errors that name what is missing (the
corpora themselves are made and ablated in tests/test_pipeline.py)."""

import json

import pytest

from orchestration.params import validate
from orchestration.replicas import corpus_stores, made_from, write_replicas
from tagf.errors import DataError


def params(**ablate):
    return validate({"data": {"seed": 0}, "ablate": ablate})


def test_without_corpus_seeds_only_data_seeds_store_is_used_and_no_corpus_is_made(tmp_path):
    assert write_replicas(params(), str(tmp_path / "replicas")) == {}
    assert json.loads((tmp_path / "replicas" / "replicas.json").read_text())["stores"] == {}
    assert corpus_stores(params(), "data/features", None) == {0: "data/features"}
    assert corpus_stores(params(), "data/features", str(tmp_path / "replicas")) == {0: "data/features"}


def listing(path, stores, **changes):
    made = made_from(params())
    made.update(changes)
    (path / "replicas.json").write_text(json.dumps({"made_from": made, "stores": stores}))


def test_each_corpus_seed_reads_its_own_store(tmp_path):
    listing(tmp_path, {"1": "seed-1/features", "2": "seed-2/features"})
    stores = corpus_stores(params(corpus_seeds=[2, 0]), "data/features", str(tmp_path))
    assert stores == {2: f"{tmp_path}/seed-2/features", 0: "data/features"}


def test_corpora_made_from_other_settings_are_refused(tmp_path):
    listing(tmp_path, {"1": "seed-1/features"}, preset="tiny")
    with pytest.raises(
        DataError, match=f"^{tmp_path}/replicas.json: made from .*'preset': 'tiny'.*run `tagf replicas"
    ):
        corpus_stores(params(corpus_seeds=[0, 1]), "data/features", str(tmp_path))
    assert corpus_stores(params(), "data/features", str(tmp_path)) == {
        0: "data/features"
    }  # not used: no matter


def test_a_corpus_seed_without_a_corpus_is_an_error_naming_it(tmp_path):
    listing(tmp_path, {"1": "seed-1/features"})
    with pytest.raises(DataError, match=f"^{tmp_path}: no corpus of seed 3 "):
        corpus_stores(params(corpus_seeds=[0, 1, 3]), "data/features", str(tmp_path))
    with pytest.raises(DataError, match="^tagf ablate: --replicas: no corpus of seed 1 "):
        corpus_stores(params(corpus_seeds=[0, 1]), "data/features", None)
    with pytest.raises(DataError, match=f"^{tmp_path}/none/replicas.json: no such file"):
        corpus_stores(params(corpus_seeds=[0, 1]), "data/features", str(tmp_path / "none"))
    (tmp_path / "replicas.json").write_text(
        json.dumps({"1": "seed-1/features"})
    )  # not what `tagf replicas` writes
    with pytest.raises(DataError, match=f"^{tmp_path}/replicas.json: not a listing of corpora"):
        corpus_stores(params(corpus_seeds=[0, 1]), "data/features", str(tmp_path))
