"""`tagf plot-gates`: where a gated model leans on which recursion step, frame by frame, for one video."""

from __future__ import annotations

from tagf.data.feature_store import videos_from_store
from tagf.data.synth.ground_truth import with_lags
from tagf.errors import UsageError
from tagf.evaluation.evaluate import load_for_evaluation
from tagf.evaluation.figures import gate_figure
from tagf.evaluation.inference import predict_frames
from tagf.models.variants import variant_of


def plot_gates(model_url: str, store: str, video: str, png_url: str) -> None:
    loaded = load_for_evaluation(model_url)
    if not loaded.model.gated:
        raise UsageError(f"{model_url}: a {variant_of(loaded.model.cfg)} model has no learned gate to plot")
    split = with_lags(store, videos_from_store(store, [video]))
    predicted = predict_frames(loaded.model, split, loaded.window, loaded.hop)
    gate_figure(
        video,
        predicted.visual_gate,
        predicted.audio_gate,
        predicted.values,
        split.labels,
        split.label_valid,
        loaded.targets,
        split.fps[video],
        png_url,
    )
