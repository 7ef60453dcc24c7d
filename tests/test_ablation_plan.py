"""The ablation's plan and params: the trial count said up front (a variant without a factor runs once), the
per-variant tuning space, and bad ablation settings named by key."""

from pathlib import Path

import pytest

from orchestration.ablation_design import grid_cells, plan, tuning_space
from orchestration.params import load_params, validate
from tagf.errors import ParamsError


def test_the_trial_count_is_said_up_front():
    params = validate(
        {
            "ablate": {
                "variants": ["tagf", "jca", "concat"],
                "seeds": [0, 1],
                "augment_shift_s": [0, 1.0],
                "key_modes": ["faithful", "length_agnostic"],
                "tuning": {"trials": 4},
            }
        }
    )
    # tagf, jca: 2 seeds × 2 augmentations × 2 keys each; concat has no key: 2 × 2 × 1
    assert plan(params) == (
        "20 trials of 3 variants × 2 seeds × 1 corpus × 2 augmentations × 2 key modes, "
        "after 12 tuning trials = 3 variants × 4"
    )
    assert plan(validate({"ablate": {"variants": ["tagf"], "seeds": [0]}})) == (
        "1 trials of 1 variants × 1 seeds × 1 corpus × 1 augmentations × 1 key modes"
    )
    assert plan(validate({"ablate": {"variants": ["tagf"], "seeds": [0, 1], "corpus_seeds": [0, 4, 5]}})) == (
        "6 trials of 1 variants × 2 seeds × 3 corpora × 1 augmentations × 1 key modes"
    )


def test_tuning_leaves_out_what_defines_a_variant_or_a_level_of_the_grid():
    space = {
        "train.lr": {"loguniform": [1e-4, 1e-3]},
        "model.gate": {"choice": ["fc"]},
        "train.max_audio_shift": {"choice": [0, 15]},
    }
    params = validate({"sweep": {"space": space}, "ablate": {"tuning": {"trials": 2}}})
    assert list(tuning_space(params)) == ["train.lr"]
    only_fixed = validate({"sweep": {"space": {"model.steps": {"choice": [1, 2]}}}})
    with pytest.raises(ParamsError, match="ablate.tuning: sweep.space has nothing left to tune"):
        tuning_space(only_fixed)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"ablate": {"augment_shift_s": [1.0, 1.0]}}, "ablate.augment_shift_s"),
        ({"ablate": {"augment_shift_s": [-1.0]}}, "ablate.augment_shift_s"),
        ({"ablate": {"key_modes": ["sideways"]}}, "ablate.key_modes"),
        ({"ablate": {"tuning": {"trials": 0}}}, "ablate.tuning"),
        ({"evaluate": {"shifts_s": [-0.5]}}, "evaluate.shifts_s"),
        ({"ablate": {"corpus_seeds": [1, 1]}}, "ablate.corpus_seeds"),
        ({"ablate": {"corpus_seeds": []}}, "ablate.corpus_seeds"),
        (
            {"ablate": {"corpus_seeds": [1, 2]}},
            r"^params.yaml: ablate.corpus_seeds: \[1, 2\] leave out data.seed \(0\)",
        ),
        (
            {
                "data": {"source": "affwild2"},
                "splits": {"selection": "dev", "report": "validation", "dev_fraction": 0.1},
                "ablate": {"corpus_seeds": [0, 1]},
            },
            "^params.yaml: ablate.corpus_seeds: only the synthetic corpus has seeds",
        ),
        ({"evaluate": {"shifts": [0, 15]}}, "evaluate: .*shifts .frames. is now shifts_s"),
        ({"ablate": {"primary": "lag>=0.7"}}, "ablate.primary: endpoint 'lag>=0.7': 0.7 s is not an edge"),
        ({"ablate": {"primary": "best"}}, "ablate.primary: unknown endpoint 'best'"),
        ({"ablate": {"primary": "shift_s=+5"}}, "ablate.primary: 'shift_s=\\+5' is not a condition"),
        (
            {"ablate": {"controls": ["tagf"]}},
            "controls \\['tagf'\\]: a control must be one of the variants, and not",
        ),
        ({"ablate": {"equivalence_margin": 0}}, "ablate.equivalence_margin"),
        ({"evaluate": {"lag_bins_s": [0.5, 1]}}, "evaluate.lag_bins_s"),
    ],
)
def test_bad_ablation_params_name_the_key(raw, message):
    with pytest.raises(ParamsError, match=message):
        validate(raw)


def test_the_study_params_file_loads_and_runs_the_full_grid():
    study = load_params(Path(__file__).parents[1] / "params.study.yaml")
    assert study.data.preset == "broadcast" and study.profile == "paper"
    assert plan(study).startswith(
        "1368 trials of 16 variants × 2 seeds × 12 corpora × 2 augmentations × 2 key modes"
    )
    assert study.ablate.controls_run() == ["oracle_align", "tagf_aa"] and study.ablate.primary == "lag>=1"
    assert study.evaluate.shifts_s == [0.5, 1.0, 2.0] and study.ablate.augment_shift_s == [0.0, 1.0]


def test_a_variant_without_a_factor_is_trained_at_its_first_level_only():
    params = validate(
        {
            "ablate": {
                "variants": ["tagf", "concat", "visual_only"],
                "seeds": [0],
                "augment_shift_s": [0, 1.0],
                "key_modes": ["faithful", "length_agnostic"],
            }
        }
    )
    cells = grid_cells(params, {0: "store"}, {0: 0.0, 25: 1.0}, ["faithful", "length_agnostic"])
    levels = {}
    for cell in cells:
        levels.setdefault(cell["model.variant"], set()).add(
            (cell["train.max_audio_shift"], cell["model.key_mode"])
        )
    assert len(levels["tagf"]) == 4  # both factors
    assert levels["concat"] == {(0, "faithful"), (25, "faithful")}  # no co-attention key
    assert levels["visual_only"] == {(0, "faithful")}  # neither: it never hears the audio it would shift
