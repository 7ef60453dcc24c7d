"""The ablation table from hand-made runs: intervals over runs, drops, the paired comparison, the Markdown."""

import pytest

from orchestration.ablation_summary import markdown, summarize


def run(variant, seed, clean, shifted, per_video):
    return {
        "variant": variant,
        "seed": seed,
        "profile": "small",
        "report_split": "test",
        "report_ccc_valence": clean,
        "report_ccc_arousal": clean,
        "report_ccc_mean": clean,
        "robustness": [
            {"model": variant, "perturbation": "shift", "level": level, "ccc_valence": v, "ccc_arousal": v,
             "ccc_mean": v}
            for level, v in ((0, clean), (15, shifted), (-15, shifted))
        ],
        "per_video": {video: {"ccc_valence": v, "ccc_arousal": v} for video, v in per_video.items()},
    }


def test_table_has_intervals_drops_and_holm_corrected_comparisons():
    trials = [
        run("tagf", 0, 0.8, 0.7, {"a": 0.8, "b": 0.9, "c": 0.7}),
        run("tagf", 1, 0.6, 0.4, {"a": 0.8, "b": 0.9, "c": 0.7}),
        run("jca", 0, 0.5, 0.45, {"a": 0.5, "b": 0.6, "c": 0.4}),
        run("jca", 1, 0.5, 0.45, {"a": 0.5, "b": 0.6, "c": 0.4}),
    ]
    table, curves = summarize(trials, ["tagf", "jca"], "tagf")
    tagf, jca = table
    assert tagf["n"] == 2 and tagf["ccc_mean"]["mean"] == pytest.approx(0.7)
    low, high = tagf["ccc_mean"]["ci95"]  # mean 0.7, sd 0.1414, sem 0.1, t(0.975, 1) = 12.706
    assert (low, high) == pytest.approx((0.7 - 1.27062, 0.7 + 1.27062), abs=1e-4)
    assert tagf["drop_shift"]["+15"]["mean"] == pytest.approx(0.15)  # (0.1 + 0.2) / 2
    assert "vs_reference" not in tagf
    assert jca["vs_reference"]["delta"] == pytest.approx(-0.3) and jca["vs_reference"]["n_videos"] == 3
    assert jca["vs_reference"]["p_holm"] == 0.0  # every video is worse: no resample crosses 0
    assert {c["level"] for c in curves if c["model"] == "jca"} == {0, 15, -15}
    text = markdown(table, "tagf")
    assert "| tagf | 2 | " in text and "| reference |" in text and "-0.300 [" in text


def test_one_run_says_n_1_and_shows_no_interval():
    table, _ = summarize([run("tagf", 0, 0.8, 0.7, {"a": 0.8})], ["tagf"], "tagf")
    assert table[0]["ccc_mean"] == {"n": 1, "mean": 0.8, "ci95": None}
    text = markdown(table, "tagf")
    assert "| tagf | 1 | 0.800 | 0.800 | 0.800 | reference | 0.100 | 0.100 |" in text and "±" not in text
