"""Hand-made per-video scores of a study (tagf.study.cells' schema), for the tests of its statistics and tables:
predictions are the labels plus Gaussian noise whose size is a variant's quality and a training seed's luck."""

import numpy as np
import pandas as pd

from tagf.study.cells import SUMS

SUBSETS = ("all", "lag[0,0.5)", "lag[0.5,inf)")


def run_cells(
    rng, noise: float, corpora: int, seeds: int, videos: int, run: dict, jitter: float = 0.0
) -> list[dict]:
    """Cells of one variant's runs: predictions = labels + Gaussian noise, whose size varies from run to run (a
    training seed's luck) around `noise`."""
    rows = []
    for corpus in range(corpora):
        for seed in range(seeds):
            run_noise = noise * (1 + 0.3 * rng.standard_normal())
            for v in range(videos):
                video_rng = np.random.default_rng(
                    [corpus, v]
                )  # the labels: the video's, the same for every model
                y = video_rng.uniform(-1, 1, (200, 2))
                p = y + rng.normal(0, run_noise, y.shape)
                if jitter:  # a draw of its own beside the shared one
                    p = p + np.random.default_rng([corpus, seed, v, 7]).normal(0, jitter, y.shape)
                for level in (-0.5, 0.0, 0.5):
                    for subset in SUBSETS if level == 0 else SUBSETS[1:] + ("all",):
                        part = (
                            slice(0, 200)
                            if subset == "all"
                            else (slice(0, 100) if subset == "lag[0,0.5)" else slice(100, 200))
                        )
                        q, t = p[part], y[part]
                        sums = {}
                        for k, target in enumerate(("valence", "arousal")):
                            pk, tk = q[:, k], t[:, k]
                            sums |= dict(
                                zip(
                                    [f"{s}_{target}" for s in SUMS],
                                    (pk.sum(), tk.sum(), (pk * pk).sum(), (tk * tk).sum(), (pk * tk).sum()),
                                )
                            )
                        rows.append(
                            {
                                **run,
                                "seed": seed,
                                "corpus_seed": corpus,
                                "perturbation": "shift_s",
                                "level": level,
                                "video": f"v{v}",
                                "subset": subset,
                                "n": len(q),
                                **sums,
                            }
                        )
    return rows


def study(corpora=6, seeds=2, videos=4, variants=None, key_modes=("length_agnostic",)):
    """Cells of a study: variant → prediction noise (lower is better); `same`: the reference's draws with a jitter
    of its own (σ 0.01: no real difference, but not no variance),
    `noisy`: the reference's noise with draws of its own."""
    variants = variants or {"tagf": 0.5, "better": 0.2, "same": 0.5, "noisy": 0.5}
    rows = []
    for key in key_modes:
        for k, (variant, noise) in enumerate(variants.items()):
            run = {"variant": variant, "augment_shift_s": 0.0, "key_mode": key}
            rng = np.random.default_rng([0 if variant == "same" else k, len(key)])
            rows += run_cells(rng, noise, corpora, seeds, videos, run, 0.01 if variant == "same" else 0.0)
    return pd.DataFrame(rows)


def meta(variants, controls=()):
    return {
        "reference": "tagf",
        "variants": list(variants),
        "controls": list(controls),
        "primary": "lag>=0.5",
        "margin": 0.02,
        "min_frames": 20,
        "setups": {},
        "tuning": "none",
        "report_split": "test",
    }
