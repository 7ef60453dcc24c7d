"""Procedural faces whose mouth, eyes and brows follow valence and arousal.

Valence drives the mouth curvature strongly (visual is good on valence); arousal only moves the eye opening and brow
height a little, around a per-identity baseline (visual is weak on arousal). Pose jitter, lighting drift and
occluders make the mapping noisy. Where a preset asks for it, the lips part with the voice's energy as it is
produced, the lip cue that makes audio-visual alignment observable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Identity:
    skin: tuple[int, int, int]
    face_w: float  # fraction of the image width
    face_h: float
    eye_gap: float
    eye_base: float  # baseline eye opening: hides absolute arousal

    @staticmethod
    def sample(rng: np.random.Generator) -> Identity:
        tone = rng.uniform(110, 230)
        return Identity(
            skin=(int(tone), int(tone * rng.uniform(0.75, 0.9)), int(tone * rng.uniform(0.6, 0.8))),
            face_w=rng.uniform(0.6, 0.75),
            face_h=rng.uniform(0.75, 0.9),
            eye_gap=rng.uniform(0.16, 0.22),
            eye_base=rng.uniform(0.3, 0.7),
        )


def render_face(
    size: int,
    identity: Identity,
    valence: float,
    arousal: float,
    rng: np.random.Generator,
    light: float,
    occluded: bool,
    mouth_open: float = 0.0,
) -> Image.Image:
    """`mouth_open` in [0, 1]: how far the lips part (the voice's energy, when a preset syncs the mouth with it)."""
    s = size * 2  # draw at 2x, then downsample: cheap anti-aliasing
    img = Image.new("RGB", (s, s), (60, 60, 70))
    d = ImageDraw.Draw(img)
    cx, cy = s / 2, s / 2
    fw, fh = identity.face_w * s / 2, identity.face_h * s / 2
    d.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=identity.skin)
    eye_y = cy - 0.18 * s
    opening = np.clip(identity.eye_base + 0.08 * arousal + rng.normal(0, 0.15), 0.05, 1.0)
    for side in (-1, 1):
        ex = cx + side * identity.eye_gap * s
        ew, eh = 0.07 * s, 0.05 * s * opening
        d.ellipse([ex - ew, eye_y - eh, ex + ew, eye_y + eh], fill=(30, 30, 30))
        brow_y = eye_y - 0.09 * s - 0.008 * s * arousal
        tilt = 0.03 * s * valence * side
        d.line([ex - ew, brow_y + tilt, ex + ew, brow_y - tilt], fill=(40, 30, 20), width=max(1, s // 40))
    # Mouth: a parabola whose curvature is the valence (smile up, frown down).
    mouth_y, half = cy + 0.22 * s, 0.16 * s
    xs = np.linspace(-1, 1, 15)
    curve = -valence * 0.09 * s * (1 - xs**2)
    gap = 0.01 * s + 0.06 * s * mouth_open
    upper = [(cx + x * half, mouth_y - c - gap) for x, c in zip(xs, curve)]
    lower = [(cx + x * half, mouth_y - c + gap) for x, c in zip(xs[::-1], curve[::-1])]
    d.polygon(upper + lower, fill=(120, 30, 40))
    d.line(upper, fill=(90, 20, 30), width=max(1, s // 30))
    if occluded:  # a hand or object over part of the face
        ox, oy = rng.uniform(0.2, 0.6) * s, rng.uniform(0.3, 0.7) * s
        d.rectangle([ox, oy, ox + 0.35 * s, oy + 0.3 * s], fill=(150, 120, 100))
    angle = rng.normal(0, 6)
    shift = rng.normal(0, 0.03 * s, size=2)
    img = img.rotate(angle, translate=tuple(shift), fillcolor=(60, 60, 70))
    img = img.resize((size, size), Image.BILINEAR)
    pixels = np.asarray(img, dtype=np.float32) * light + rng.normal(0, 6, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
