"""`tagf features`: frame index → per-frame visual and audio features → the Parquet feature store.

Faces are decoded with Pillow, audio with PyAV/soundfile; both backbones run in batches on the GPU when there is
one. Frames without a face get a zero visual vector and visual_valid = false (their labels stay).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from tqdm import tqdm

from tagf import storage
from tagf.data import affwild2_layout as layout
from tagf.data.feature_store import schema, write_store
from tagf.data.frame_index import read_index
from tagf.data.media import read_audio
from tagf.errors import DataError, ParamsError
from tagf.features.builtin import LogMelStatistics, RandomFeatureFaceEncoder
from tagf.features.config import PLACEMENT, ExtractorConfig
from tagf.features.iresnet import AUTHORS_CROP_PX, AUTHORS_FACE_PX, INPUT_PX, load_iresnet50
from tagf.features.logmel import frame_patches, log_mel
from tagf.features.vggish import load_vggish


def _sha256(url: str | None) -> str | None:
    return None if url is None else hashlib.sha256(storage.read_bytes(url)).hexdigest()


def _backbones(cfg: ExtractorConfig, device: torch.device):
    """(visual model, audio model, face geometry (resize px, centre-crop px) or None to keep the faces as stored)."""
    if cfg.visual_backbone.startswith("ir50"):
        if not cfg.visual_weights:
            raise ParamsError(
                f"features.visual_weights: the {cfg.visual_backbone} backbone needs a state-dict path"
            )
        authors = cfg.visual_backbone == "ir50_authors"
        visual = load_iresnet50(cfg.visual_weights, authors=authors)
        face_geometry = (AUTHORS_FACE_PX, AUTHORS_CROP_PX) if authors else (INPUT_PX, INPUT_PX)
    else:
        visual, face_geometry = RandomFeatureFaceEncoder(cfg.seed), None
    if cfg.audio_backbone.startswith("vggish"):
        if not cfg.audio_weights:
            raise ParamsError(
                f"features.audio_weights: the {cfg.audio_backbone} backbone needs a state-dict path"
            )
        audio = load_vggish(cfg.audio_weights, authors=cfg.audio_backbone == "vggish_authors")
    else:
        audio = LogMelStatistics()
    return visual.to(device).eval(), audio.to(device).eval(), face_geometry


@torch.inference_mode()
def _batched(model, inputs: np.ndarray, batch: int, device: torch.device) -> np.ndarray:
    outs = [
        model(torch.from_numpy(inputs[i : i + batch]).to(device)).float().cpu()
        for i in range(0, len(inputs), batch)
    ]
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)


def _faces(
    fs, root: str, video: str, frames: np.ndarray, face_geometry: tuple[int, int] | None
) -> np.ndarray:
    """(n, 3, H, W) float32 in [-1, 1] for the given 1-based frames, resized then centre-cropped."""
    images = []
    for frame in frames:
        img = Image.open(
            io.BytesIO(fs.cat_file(f"{root}/{layout.FACES_DIR}/{video}/{layout.face_name(frame)}"))
        )
        img = img.convert("RGB")
        if face_geometry is not None:
            size, crop = face_geometry
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            if crop < size:  # torchvision's CenterCrop offsets, as the authors' GroupCenterCrop uses
                top = int(round((size - crop) / 2.0))
                img = img.crop((top, top, top + crop, top + crop))
        images.append(np.asarray(img))
    stacked = np.stack(images).astype(np.float32) / 127.5 - 1.0  # (n, H, W, 3)
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2))


def _video_table(columns, rows: np.ndarray, models, root: str, cfg: ExtractorConfig, device) -> pa.Table:
    """One video's rows of the store: labels from the index, visual features of its faces (zero where none), audio
    features of its log-mel patches."""
    visual_model, audio_model, face_geometry = models
    fs, root_path = storage.filesystem(root)
    video = columns["video"][rows[0]]
    frames = np.asarray(columns["frame"])[rows]
    present = np.asarray(columns["face_present"])[rows]
    fps = float(columns["fps"][rows[0]])
    visual = np.zeros((len(rows), visual_model.embedding_dim), np.float32)  # frames without a face stay zero
    chunks = []
    for start in range(0, int(present.sum()), cfg.batch_size):
        chunk = frames[present][start : start + cfg.batch_size]
        faces = _faces(fs, root_path, video, chunk, face_geometry)
        chunks.append(_batched(visual_model, faces, cfg.batch_size, device))
    if chunks:
        visual[present] = np.concatenate(chunks)
    patches = frame_patches(
        log_mel(read_audio(storage.join(root, columns["audio_path"][rows[0]]))), fps, len(rows)
    )
    audio = _batched(audio_model, patches, cfg.batch_size, device)
    value_type = np.float16 if cfg.dtype == "float16" else np.float32
    return pa.table(
        {
            "video": [video] * len(rows),
            "frame": frames.astype(np.int32),
            "valence": np.asarray(columns["valence"], np.float32)[rows],
            "arousal": np.asarray(columns["arousal"], np.float32)[rows],
            "label_valid": np.asarray(columns["label_valid"])[rows],
            "visual": pa.FixedSizeListArray.from_arrays(visual.astype(value_type).ravel(), visual.shape[1]),
            "visual_valid": present,
            "audio": pa.FixedSizeListArray.from_arrays(audio.astype(value_type).ravel(), audio.shape[1]),
        }
    )


@dataclass(frozen=True)
class CorpusIndex:
    """A frame index as extraction reads it: the corpus root, its columns, and each video's rows in index order."""

    url: str
    root: str
    columns: dict[str, list]
    rows_of: dict[str, np.ndarray]

    def frames(self, videos: list[str]) -> int:
        return sum(len(self.rows_of[v]) for v in videos)


def load_corpus_index(index_url: str) -> CorpusIndex:
    index = read_index(index_url)
    root = (index.schema.metadata or {}).get(b"tagf.root", b"").decode()
    if not root:
        raise DataError(f"{index_url}: frame index has no corpus root; rebuild it with `tagf prepare`")
    if index.num_rows == 0:
        raise DataError(f"{index_url}: the frame index has no frames; rebuild it with `tagf prepare`")
    columns = index.to_pydict()
    rows_of: dict[str, list[int]] = {}
    for row, video in enumerate(columns["video"]):
        rows_of.setdefault(video, []).append(row)
    return CorpusIndex(index_url, root, columns, {v: np.asarray(r) for v, r in rows_of.items()})


def extract_videos(
    corpus: CorpusIndex, videos: list[str], cfg: ExtractorConfig, progress=None
) -> list[pa.Table]:
    """The store rows of each of `videos` (`progress`: a tqdm bar to advance by each video's frames)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # on Ray: the task's GPUs, if any
    models = _backbones(cfg, device)
    tables = []
    for video in videos:
        tables.append(_video_table(corpus.columns, corpus.rows_of[video], models, corpus.root, cfg, device))
        if progress is not None:
            progress.update(len(corpus.rows_of[video]))
    return tables


def progress_bar(total_frames: int, done_frames: int = 0) -> tqdm:
    """Frames extracted: tqdm shows frames/s and the time left."""
    return tqdm(total=total_frames, initial=done_frames, desc="features", unit="frame", unit_scale=True)


def assemble(corpus: CorpusIndex, store_url: str, cfg: ExtractorConfig, tables: list[pa.Table]) -> dict:
    """Write the store from every video's rows (`tables`, in the index's video order); returns its manifest."""
    per_split: dict[str, list[pa.Table]] = {}
    fps_of: dict[str, float] = {}
    for video, table in zip(corpus.rows_of, tables, strict=True):
        first = corpus.rows_of[video][0]
        fps_of[video] = float(corpus.columns["fps"][first])
        per_split.setdefault(corpus.columns["split"][first], []).append(table)
    sample = tables[0].schema
    visual_dim, audio_dim = (sample.field(name).type.list_size for name in ("visual", "audio"))
    target = schema(visual_dim, audio_dim, cfg.dtype)
    merged = {split: pa.concat_tables([t.cast(target) for t in parts]) for split, parts in per_split.items()}
    manifest = {
        "dims": {"visual": visual_dim, "audio": audio_dim},
        "dtype": cfg.dtype,
        "extractor": cfg.model_dump(exclude=set(PLACEMENT)),
        "weights_sha256": {"visual": _sha256(cfg.visual_weights), "audio": _sha256(cfg.audio_weights)},
        "corpus": {
            "root": corpus.root,
            "index_sha256": hashlib.sha256(storage.read_bytes(corpus.url)).hexdigest()[:16],
        },
    }
    return write_store(store_url, merged, fps_of, manifest)


def extract_features(index_url: str, store_url: str, cfg: ExtractorConfig) -> dict:
    """Compute the features of every indexed frame in this process and write the store; returns its manifest."""
    corpus = load_corpus_index(index_url)
    videos = list(corpus.rows_of)
    with progress_bar(corpus.frames(videos)) as bar:
        tables = extract_videos(corpus, videos, cfg, bar)
    return assemble(corpus, store_url, cfg, tables)
