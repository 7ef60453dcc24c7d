"""The ablation from hand-made runs: intervals over runs, drops, the paired comparisons per condition and per frame
category, the gate summary, the Markdown, the trial count said up front; and a trial's report scoring with a tiny
untrained model (shifts in seconds per video, scores and gates per frame category)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from orchestration.ablation import plan, tuning_space
from orchestration.params import load_params, validate
from tagf.data.feature_store import SplitArrays
from tagf.errors import ParamsError
from tagf.evaluation.evaluate import LoadedModel
from tagf.models import build_model, model_config
from tagf.study.conditions import ProtocolSettings
from tagf.study.frame_categories import CATEGORIES, NO_MASKS, FrameCategories
from tagf.study.gates import gate_summary
from tagf.study.protocol import Protocol, score_run
from tagf.study.robustness import write_table
from tagf.study.summary import summarize
from tagf.study.tables import markdown

NONE = "none"


def run(variant, seed, clean, shifted, per_video, augment=0.0, by_category=None, gates=None, shifted_videos=None):
    """A hand-made run; `shifted_videos` {video: CCC under ±0.5 s} (default: as `per_video`, no drop)."""
    at = {0.0: per_video, 0.5: shifted_videos or per_video, -0.5: shifted_videos or per_video}
    return {
        "variant": variant,
        "seed": seed,
        "augment_shift_s": augment,
        "key_mode": "length_agnostic",
        "setup": "small",
        "report_split": "test",
        "report_ccc_valence": clean,
        "report_ccc_arousal": clean,
        "report_ccc_mean": clean,
        "robustness": [
            {
                "model": variant,
                "perturbation": "shift_s",
                "level": level,
                "ccc_valence": v,
                "ccc_arousal": v,
                "ccc_mean": v,
                "per_video": {video: {"ccc_valence": x, "ccc_arousal": x} for video, x in at[level].items()},
            }
            for level, v in ((0.0, clean), (0.5, shifted), (-0.5, shifted))
        ],
        "per_video": {video: {"ccc_valence": v, "ccc_arousal": v} for video, v in per_video.items()},
        "by_category": by_category,
        "gates": gates,
    }


def test_table_has_intervals_drops_and_holm_corrected_comparisons():
    trials = [
        run("tagf", 0, 0.8, 0.7, {"a": 0.8, "b": 0.9, "c": 0.7}),
        run("tagf", 1, 0.6, 0.4, {"a": 0.8, "b": 0.9, "c": 0.7}),
        run("jca", 0, 0.5, 0.45, {"a": 0.5, "b": 0.6, "c": 0.4}),
        run("jca", 1, 0.5, 0.45, {"a": 0.5, "b": 0.6, "c": 0.4}),
    ]
    table, curves = summarize(trials, ["tagf", "jca"], "tagf", NONE)
    tagf, jca = table
    assert tagf["n"] == 2 and tagf["ccc_mean"]["mean"] == pytest.approx(0.7)
    low, high = tagf["ccc_mean"]["ci95"]  # mean 0.7, sd 0.1414, sem 0.1, t(0.975, 1) = 12.706
    assert (low, high) == pytest.approx((0.7 - 1.27062, 0.7 + 1.27062), abs=1e-4)
    assert tagf["drop_shift_s"]["+0.5"]["mean"] == pytest.approx(0.15)  # (0.1 + 0.2) / 2
    assert "vs_reference" not in tagf and tagf["tuning"] == NONE
    assert jca["vs_reference"]["delta"] == pytest.approx(-0.3) and jca["vs_reference"]["n_videos"] == 3
    assert jca["vs_reference"]["p_holm"] == 0.0  # every video is worse: no resample crosses 0
    assert jca["by_category"] == {}  # no masks: no category scores, not zeros
    assert {c["level"] for c in curves if c["model"] == "jca"} == {0.0, 0.5, -0.5}
    text = markdown(table, "tagf")
    assert "| tagf | 2 | " in text and "| reference |" in text and "-0.300 [" in text
    assert "drop @+0.5 s" in text and "Tuning: none" in text


def test_drops_are_compared_with_the_reference_per_video_and_holm_corrected_per_shift():
    clean = {"a": 0.8, "b": 0.6, "c": 0.7}
    trials = [  # per-video drops: tagf (0.1, 0.1, 0.1) in both runs
        run("tagf", s, 0.7, 0.6, clean, shifted_videos={"a": 0.7, "b": 0.5, "c": 0.6}) for s in (0, 1)
    ] + [  # jca: (0.3, 0.2, 0.1) in run 0, (0.1, 0.2, 0.3) in run 1; mean over runs 0.2 on every video
        run("jca", 0, 0.7, 0.5, clean, shifted_videos={"a": 0.5, "b": 0.4, "c": 0.6}),
        run("jca", 1, 0.7, 0.5, clean, shifted_videos={"a": 0.7, "b": 0.4, "c": 0.4}),
    ] + [  # concat: drops (0.1, 0.1, 0.15): only video c differs from tagf, by 0.05
        run("concat", s, 0.7, 0.6, clean, shifted_videos={"a": 0.7, "b": 0.5, "c": 0.55}) for s in (0, 1)
    ]
    for frames, trial in zip((100, 100, 90), trials[:2] + trials[4:5]):  # tagf's two runs agree, concat's do not
        trial["robustness"][0]["frames"] = frames
    table, curves = summarize(trials, ["tagf", "jca", "concat"], "tagf", NONE)
    tagf, jca, concat = table
    # a curve keeps what its runs have in common (across corpora, frames and lags differ): no number from one run
    (tagf_clean,) = [c for c in curves if c["model"] == "tagf" and c["level"] == 0.0]
    (concat_clean,) = [c for c in curves if c["model"] == "concat" and c["level"] == 0.0]
    assert tagf_clean["frames"] == 100 and "frames" not in concat_clean
    assert "vs_reference" not in tagf["drop_shift_s"]["+0.5"]
    found = jca["drop_shift_s"]["+0.5"]["vs_reference"]
    assert found["delta"] == pytest.approx(0.1) and found["n_videos"] == 3
    assert found["ci95"] == pytest.approx([0.1, 0.1]) and found["p"] == 0.0  # every video loses 0.1 more
    other = concat["drop_shift_s"]["+0.5"]["vs_reference"]
    assert other["delta"] == pytest.approx(0.05 / 3)
    # one video of three differs: a resample without it has mean 0, so p = 2·P(mean ≤ 0) = 2·(2/3)³ ≈ 0.59
    assert other["p"] == pytest.approx(2 * (2 / 3) ** 3, abs=0.03)
    # Holm over the two comparisons at +0.5 s: the smaller p times 2, the larger times 1
    assert found["p_holm"] == 0.0 and other["p_holm"] == pytest.approx(other["p"])
    assert concat["drop_shift_s"]["-0.5"]["vs_reference"]["p_holm"] == pytest.approx(other["p"])
    assert all("per_video" not in c for c in curves)  # the curves stay small
    text = markdown(table, "tagf")
    assert "Δ drop @+0.5 s" in text and "| jca | +0.100 [+0.100, +0.100], p=0.000 |" in text


def test_drops_under_noise_and_dropout_are_against_the_clean_scores_and_compared_per_video():
    def with_noise(trial, noisy, dropped):
        def row(perturbation, level, per_video):
            mean = float(np.mean(list(per_video.values())))
            scores = {video: {"ccc_valence": x, "ccc_arousal": x} for video, x in per_video.items()}
            return {
                "perturbation": perturbation,
                "level": level,
                **{f"ccc_{k}": mean for k in ("valence", "arousal", "mean")},
                "per_video": scores,
            }

        clean = {v: s["ccc_valence"] for v, s in trial["per_video"].items()}
        trial["robustness"] += [
            row("audio_noise", 10.0, noisy),
            row("audio_dropout", 0.0, clean),  # nothing dropped: not a drop, no row of the table
            row("audio_dropout", 0.5, dropped),
        ]
        return trial

    trials = [
        with_noise(run("tagf", 0, 0.75, 0.75, {"a": 0.8, "b": 0.7}), {"a": 0.7, "b": 0.6}, {"a": 0.8, "b": 0.7}),
        with_noise(run("jca", 0, 0.75, 0.75, {"a": 0.8, "b": 0.7}), {"a": 0.4, "b": 0.5}, {"a": 0.8, "b": 0.6}),
    ]
    table, _ = summarize(trials, ["tagf", "jca"], "tagf", NONE)
    tagf, jca = table
    assert tagf["drop_audio_noise"]["10"]["mean"] == pytest.approx(0.75 - 0.65)  # pooled: clean minus noisy
    assert list(jca["drop_audio_dropout"]) == ["0.5"]
    # per video, jca drops (0.4, 0.2) under noise where tagf drops (0.1, 0.1): Δ = mean(0.3, 0.1)
    assert jca["drop_audio_noise"]["10"]["vs_reference"]["delta"] == pytest.approx(0.2)
    assert jca["drop_audio_dropout"]["0.5"]["vs_reference"]["delta"] == pytest.approx(0.05)
    text = markdown(table, "tagf")
    assert "Drop under audio SNR (dB)" in text and "| jca | 0.300; Δ +0.200 " in text


def test_one_run_says_n_1_and_shows_no_interval():
    table, _ = summarize([run("tagf", 0, 0.8, 0.7, {"a": 0.8})], ["tagf"], "tagf", NONE)
    assert table[0]["ccc_mean"] == {"n": 1, "mean": 0.8, "ci95": None}
    text = markdown(table, "tagf")
    assert (
        "| tagf | 1 | 0.800 | 0.800 | 0.800 | reference | 0.100 | 0.100 |" in text and "± 0.000" not in text
    )


def test_rows_per_augmentation_compare_with_the_reference_of_the_same_augmentation():
    trials = [
        run("tagf", 0, 0.8, 0.7, {"a": 0.8, "b": 0.8}, augment=0.0),
        run("jca", 0, 0.5, 0.4, {"a": 0.6, "b": 0.6}, augment=0.0),
        run("tagf", 0, 0.7, 0.7, {"a": 0.5, "b": 0.5}, augment=1.0),
        run("jca", 0, 0.6, 0.6, {"a": 0.6, "b": 0.6}, augment=1.0),
    ]
    table, curves = summarize(trials, ["tagf", "jca"], "tagf", NONE)
    assert [(r["variant"], r["augment_shift_s"], r["label"]) for r in table] == [
        ("tagf", 0.0, "tagf aug ±0 s"),
        ("jca", 0.0, "jca aug ±0 s"),
        ("tagf", 1.0, "tagf aug ±1 s"),
        ("jca", 1.0, "jca aug ±1 s"),
    ]
    # jca − tagf: −0.2 without augmentation, +0.1 with it (a comparison across augmentations would mix them)
    assert table[1]["vs_reference"]["delta"] == pytest.approx(-0.2)
    assert table[3]["vs_reference"]["delta"] == pytest.approx(0.1)
    assert {c["model"] for c in curves} == {"tagf aug ±0 s", "jca aug ±0 s", "tagf aug ±1 s", "jca aug ±1 s"}


def category(ccc_mean, per_video):
    return {
        "ccc_mean": ccc_mean,
        "per_video": {v: {"ccc_valence": x, "ccc_arousal": x} for v, x in per_video.items()},
    }


def test_scores_within_frame_categories_with_intervals_and_paired_comparison():
    def cats(desync, sync):
        return {
            "synchronised": category(sync, {"a": sync, "b": sync}),
            "desynchronised": category(desync, {"a": desync, "b": desync - 0.1}),
            "silent": None,
            "no_face": None,
        }  # no labelled frame of these: absent

    trials = [
        run("tagf", 0, 0.8, 0.7, {"a": 0.8, "b": 0.8}, by_category=cats(0.6, 0.9)),
        run("tagf", 1, 0.8, 0.7, {"a": 0.8, "b": 0.8}, by_category=cats(0.4, 0.9)),
        run("jca", 0, 0.8, 0.7, {"a": 0.8, "b": 0.8}, by_category=cats(0.3, 0.9)),
        run("jca", 1, 0.8, 0.7, {"a": 0.8, "b": 0.8}, by_category=cats(0.3, 0.9)),
    ]
    table, _ = summarize(trials, ["tagf", "jca"], "tagf", NONE)
    tagf, jca = table
    assert set(tagf["by_category"]) == {"synchronised", "desynchronised"}
    assert tagf["by_category"]["desynchronised"]["ccc_mean"]["mean"] == pytest.approx(0.5)
    assert tagf["by_category"]["desynchronised"]["ccc_mean"]["ci95"] is not None
    # per video, desynchronised: tagf a (0.6+0.4)/2=0.5, b 0.4; jca a 0.3, b 0.2 → Δ −0.2 on both videos
    assert jca["by_category"]["desynchronised"]["vs_reference"]["delta"] == pytest.approx(-0.2)
    assert jca["by_category"]["synchronised"]["vs_reference"]["delta"] == pytest.approx(0.0)
    text = markdown(table, "tagf")
    assert "desynchronised CCC" in text and "silent CCC" not in text


def gates(sync0, desync0, videos=("a", "b")):
    """Per video: α (2 steps) in synchronised and desynchronised frames; no silent or no-face frames."""
    return {
        gate: {
            v: {
                "synchronised": [sync0, 1 - sync0],
                "desynchronised": [desync0 + 0.1 * k, 0.9 - desync0 - 0.1 * k],
                "silent": None,
                "no_face": None,
            }
            for k, v in enumerate(videos)
        }
        for gate in ("visual", "audio")
    }


def test_gate_summary_intervals_per_step_and_category_and_tagf_against_mean_gate():
    trials = [
        run("tagf", 0, 0.8, 0.7, {"a": 0.8}, gates=gates(0.3, 0.5)),
        run("tagf", 1, 0.8, 0.7, {"a": 0.8}, gates=gates(0.3, 0.7)),
        run("mean_gate", 0, 0.8, 0.7, {"a": 0.8}, gates=gates(0.5, 0.5)),
        run("mean_gate", 1, 0.8, 0.7, {"a": 0.8}, gates=gates(0.5, 0.5)),
        run("concat", 0, 0.8, 0.7, {"a": 0.8}),
    ]
    found = gate_summary(trials)
    assert [row["variant"] for row in found["rows"]] == ["tagf", "mean_gate"]  # concat has no gate
    tagf = found["rows"][0]
    # run 0: videos a 0.5, b 0.6 → 0.55; run 1: 0.7, 0.8 → 0.75; mean 0.65 over n=2 runs
    step0 = tagf["visual"]["desynchronised"][0]
    assert step0["step"] == 0 and step0["n"] == 2 and step0["mean"] == pytest.approx(0.65)
    assert tagf["visual"]["synchronised"][1]["mean"] == pytest.approx(0.7)
    assert tagf["visual"]["silent"] is None  # no frame of the category: absent, not 0
    (pair,) = found["step0_desync_minus_sync"]
    # tagf per video (desync − sync, averaged over runs): a 0.3, b 0.4; mean_gate: a 0.0, b 0.1 → Δ 0.3 each
    assert pair["model"] == "tagf" and pair["baseline"] == "mean_gate"
    assert pair["visual"]["delta"] == pytest.approx(0.3) and pair["visual"]["n_videos"] == 2
    assert "p_holm" in pair["audio"]
    text = markdown(summarize(trials[:4], ["tagf", "mean_gate"], "tagf", NONE)[0], "tagf", found)
    assert "mean α of step 0" in text and "tagf − mean_gate" in text


def test_no_video_with_both_categories_gives_no_comparison_rather_than_nan():
    def synchronised_only(alpha0):
        means = {
            "synchronised": [alpha0, 1 - alpha0],
            "desynchronised": None,
            "silent": None,
            "no_face": None,
        }
        return {gate: {"a": means} for gate in ("visual", "audio")}

    trials = [
        run("tagf", 0, 0.8, 0.7, {"a": 0.8}, gates=synchronised_only(0.4)),
        run("mean_gate", 0, 0.8, 0.7, {"a": 0.8}, gates=synchronised_only(0.5)),
    ]
    found = gate_summary(trials)
    assert found["rows"][0]["visual"]["desynchronised"] is None
    (pair,) = found["step0_desync_minus_sync"]
    assert pair["visual"] is None and pair["audio"] is None
    text = markdown(summarize(trials, ["tagf", "mean_gate"], "tagf", NONE)[0], "tagf", found)
    assert "paired per video: visual —; audio —" in text


def test_gate_summary_without_masks_says_it_was_skipped():
    assert gate_summary([run("tagf", 0, 0.8, 0.7, {"a": 0.8})]) == {"skipped": NO_MASKS}


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
    assert plan(params) == (
        "24 trials = 3 variants × 2 seeds × 1 corpus × 2 augmentations × 2 key modes, "
        "after 12 tuning trials = 3 variants × 4"
    )
    assert plan(validate({"ablate": {"variants": ["tagf"], "seeds": [0]}})) == (
        "1 trials = 1 variants × 1 seeds × 1 corpus × 1 augmentations × 1 key modes"
    )
    assert plan(validate({"ablate": {"variants": ["tagf"], "seeds": [0, 1], "corpus_seeds": [0, 4, 5]}})) == (
        "6 trials = 1 variants × 2 seeds × 3 corpora × 1 augmentations × 1 key modes"
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
        ({"ablate": {"corpus_seeds": [1, 2]}}, r"^params.yaml: ablate.corpus_seeds: \[1, 2\] leave out data.seed \(0\)"),
        (
            {"data": {"source": "affwild2"}, "splits": {"selection": "dev", "report": "validation", "dev_fraction": 0.1},
             "ablate": {"corpus_seeds": [0, 1]}},
            "^params.yaml: ablate.corpus_seeds: only the synthetic corpus has seeds",
        ),
        ({"evaluate": {"shifts": [0, 15]}}, "evaluate: .*shifts .frames. is now shifts_s"),
    ],
)
def test_bad_ablation_params_name_the_key(raw, message):
    with pytest.raises(ParamsError, match=message):
        validate(raw)


def test_the_study_params_file_loads_and_runs_the_full_grid():
    study = load_params(Path(__file__).parents[1] / "params.study.yaml")
    assert study.data.preset == "misaligned" and study.data.max_lag_s == 2.0
    assert plan(study) == (
        "324 trials = 9 variants × 3 seeds × 3 corpora × 2 augmentations × 2 key modes, "
        "after 72 tuning trials = 9 variants × 8"
    )
    assert study.evaluate.shifts_s == [0.5, 1.0, 2.0] and study.ablate.augment_shift_s == [0.0, 1.0]


def test_report_scoring_shifts_each_video_by_its_own_frames_and_reads_gates_per_category(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = model_config(
        "tagf",
        visual_in=4,
        audio_in=3,
        visual_channels=(8,),
        audio_channels=(8,),
        head_hidden=8,
        key_mode="length_agnostic",
        window=16,
    )
    n = 80  # videos a (25 fps) and b (30 fps), 40 frames each
    split = SplitArrays(
        videos=["a", "b"],
        offsets=np.array([0, 40, 80]),
        visual=rng.normal(size=(n, 4)).astype(np.float32),
        audio=rng.normal(size=(n, 3)).astype(np.float32),
        labels=rng.uniform(-1, 1, size=(n, 2)).astype(np.float32),
        label_valid=np.ones(n, bool),
        visual_valid=np.ones(n, bool),
        frames=np.r_[np.arange(1, 41), np.arange(1, 41)].astype(np.int32),
        fps={"a": 25.0, "b": 30.0},
    )
    kinds = np.zeros(n, int)
    kinds[:10] = CATEGORIES.index("desynchronised")  # video a's first 10 frames; no silent frame anywhere
    kinds[70:] = CATEGORIES.index("no_face")
    protocol = Protocol(
        "test",
        ProtocolSettings(shifts_s=[0.5], snr_db=[], dropout=[]),
        categories=FrameCategories(["a", "b"], split.offsets, kinds),
    )
    loaded = [LoadedModel(build_model(cfg).eval(), ["valence", "arousal"], 16, 8)]
    result = score_run("tagf", loaded, split, protocol, seed=0)
    scored = result.scores
    rows = {r["level"]: r for r in result.robustness if r["perturbation"] == "shift_s"}
    assert sorted(rows) == [-0.5, 0.0, 0.5]
    assert all(set(r["per_video"]) == {"a", "b"} for r in result.robustness)  # what drops are paired on
    write_table(result.robustness, str(tmp_path / "rows.json"))
    assert all("per_video" not in r for r in json.loads((tmp_path / "rows.json").read_text()))
    # ±0.5 s is 12 frames of a (rint(12.5)) and 15 of b: those frames have no audio and are not scored
    assert rows[0.0]["frames"] == 80 and rows[0.5]["frames"] == rows[-0.5]["frames"] == 80 - 12 - 15
    assert rows[0.0]["ccc_mean"] == pytest.approx(scored["ccc_mean"])
    by_category = result.by_category
    assert by_category["desynchronised"]["frames"] == 10 and by_category["no_face"]["frames"] == 10
    assert by_category["silent"] is None  # no frame of the category: no score, not 0
    gates = result.gates["visual"]
    assert gates["a"]["no_face"] is None and gates["b"]["desynchronised"] is None
    assert len(gates["a"]["desynchronised"]) == 3 and sum(gates["a"]["desynchronised"]) == pytest.approx(1.0)
