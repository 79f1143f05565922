"""Photo style renderers of the classical backend: OpenCV filters steered by the person mask.

Each renderer takes an RGB uint8 image, the person mask at the same size (float32 0..1), the main face box (or
None) and the style params, and returns an RGB uint8 image of the same size. Sizes (kernels, line widths) scale
with the image's long side, so a style looks the same at 512 or 2048 px. Textures come from seeded generators:
same input, same output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import cv2
import numpy as np

from .analysis import FaceBox
from .imaging import blend, to_u8

Renderer = Callable[[np.ndarray, np.ndarray, FaceBox | None, Mapping[str, Any]], np.ndarray]


def _unit(img: np.ndarray) -> float:
    """Size unit: 1.0 at a 1024 px long side."""
    return max(img.shape[:2]) / 1024.0


def _odd(n: float) -> int:
    n = max(1, round(n))
    return n if n % 2 else n + 1


def _noise(h: int, w: int, seed: int, blur: float = 0.0) -> np.ndarray:
    """Deterministic noise, zero mean, unit-ish amplitude, optionally smoothed."""
    noise = np.random.default_rng(seed).standard_normal((h, w)).astype(np.float32)
    if blur > 0:
        noise = cv2.GaussianBlur(noise, (0, 0), blur)
        noise /= max(float(noise.std()), 1e-6)
    return noise


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _xdog(grey: np.ndarray, sigma: float, k: float = 1.6, p: float = 20.0, eps: float = 0.1, phi: float = 12.0):
    """Extended difference of Gaussians: 1.0 on paper, towards 0.0 on lines (float32)."""
    g = grey.astype(np.float32) / 255.0
    g1 = cv2.GaussianBlur(g, (0, 0), sigma)
    g2 = cv2.GaussianBlur(g, (0, 0), sigma * k)
    d = (1 + p) * g1 - p * g2
    return np.where(d >= eps, 1.0, 1.0 + np.tanh(phi * (d - eps))).astype(np.float32)


def _saturate(rgb: np.ndarray, factor: float, value: float = 1.0) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * value, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def _soft_mask(mask: np.ndarray, unit: float, grow: float = 0.0) -> np.ndarray:
    m = mask.astype(np.float32)
    if grow > 0:
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(grow * unit),) * 2))
    return cv2.GaussianBlur(m, (0, 0), 3 * unit)


def _face_weight(shape: tuple[int, ...], face: FaceBox | None, grow: float = 1.6) -> np.ndarray:
    """A soft ellipse over the face (1 inside, fading out), zeros without a face."""
    h, w = shape[:2]
    weight = np.zeros((h, w), np.float32)
    if face is not None:
        cx, cy = face.center
        axes = (max(1, round(face.w * grow / 2)), max(1, round(face.h * grow * 0.65)))
        cv2.ellipse(weight, (round(cx), round(cy - 0.1 * face.h)), axes, 0, 0, 360, 1.0, -1)
        weight = cv2.GaussianBlur(weight, (0, 0), max(1.0, face.w * 0.15))
    return weight


def anime(rgb: np.ndarray, mask: np.ndarray, face: FaceBox | None, params: Mapping[str, Any]) -> np.ndarray:
    """Cel shading: edge-preserving smoothing, luminance quantised into a few soft bands (computed on a strongly
    smoothed luminance so skin stays clean), brighter and more saturated colours, XDoG ink lines; the background
    is painted flatter and lighter."""
    u = _unit(rgb)
    bands = int(params.get("bands", 5))
    smooth = cv2.edgePreservingFilter(rgb, flags=cv2.RECURS_FILTER, sigma_s=40, sigma_r=0.35)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB).astype(np.float32)
    lum = lab[..., 0] / 255.0
    base = cv2.ximgproc.guidedFilter(lum, lum, max(2, round(14 * u)), 0.006)  # flat shading areas
    base = base**0.85  # lift the mid tones: anime skin is bright
    x = base * bands
    frac = x - np.floor(x)
    step = np.floor(x) + 0.5 + 0.5 * np.tanh((frac - 0.5) * 10.0)  # soft steps instead of hard posterisation
    shaded = np.clip(step / bands * 1.05, 0, 1)
    lab[..., 0] = 255.0 * (0.65 * shaded + 0.35 * np.clip(lum**0.85, 0, 1))  # some of the real shading
    lab[..., 1:] = (lab[..., 1:] - 128.0) * 1.4 + 128.0
    cel = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)

    # background: softer, lighter and slightly cool, like a painted backdrop
    m = _soft_mask(mask, u)
    bg = cv2.GaussianBlur(smooth, (0, 0), 5 * u).astype(np.float32)
    bg = blend(_saturate(bg.astype(np.uint8), 1.3).astype(np.float32), np.array([232.0, 240.0, 255.0], np.float32), 0.4)
    painted = blend(bg, cel, m)

    lines = _xdog(_luma(smooth), sigma=max(0.8, 1.1 * u), p=22.0, eps=0.1, phi=10.0)
    lines = 1.0 - float(params.get("line_strength", 0.85)) * (1.0 - lines)
    lines = np.maximum(lines, 0.6 * (1.0 - m))  # lighter lines behind the subject
    return to_u8(painted * lines[..., None])


def oil(rgb: np.ndarray, mask: np.ndarray, face: FaceBox | None, params: Mapping[str, Any]) -> np.ndarray:
    """``cv2.xphoto.oilPainting`` strokes (finer ones on the face so it stays recognisable), richer colour, a canvas
    weave and a little relief lighting."""
    u = _unit(rgb)
    brush = max(2, round(int(params.get("brush", 7)) * u))
    dyn = int(params.get("dyn_ratio", 1))
    base = cv2.bilateralFilter(rgb, _odd(7 * u), 30, 7 * u)
    painted = cv2.xphoto.oilPainting(base, brush, dyn, cv2.COLOR_RGB2Lab)
    if face is not None:
        fine_brush = int(np.clip(face.w / 60.0, 2, brush - 1)) if brush > 2 else 2
        x0, y0 = max(0, round(face.x - face.w)), max(0, round(face.y - face.h))
        x1, y1 = min(rgb.shape[1], round(face.x + 2 * face.w)), min(rgb.shape[0], round(face.y + 2 * face.h))
        fine = cv2.xphoto.oilPainting(np.ascontiguousarray(base[y0:y1, x0:x1]), fine_brush, dyn, cv2.COLOR_RGB2Lab)
        weight = _face_weight(rgb.shape, face)[y0:y1, x0:x1, None]
        region = painted[y0:y1, x0:x1].astype(np.float32)
        painted[y0:y1, x0:x1] = to_u8(region * (1 - weight) + fine.astype(np.float32) * weight)
    painted = _saturate(painted, 1.25, 1.02).astype(np.float32)
    # relief: emboss of the painted luminance, as light coming from the top left
    grey = cv2.GaussianBlur(_luma(painted.astype(np.uint8)).astype(np.float32), (0, 0), 1.2 * u)
    relief = cv2.filter2D(grey, -1, np.array([[-1, -1, 0], [-1, 0, 1], [0, 1, 1]], np.float32)) * 0.3
    h, w = rgb.shape[:2]
    weave = (_noise(h, w, 7, blur=0.8 * u) * 0.6 + np.sin(np.arange(w) * (np.pi / (2.5 * u)))[None, :] * 0.4) * 4.0
    out = painted + (relief + weave)[..., None]
    return to_u8(out)


def sketch(rgb: np.ndarray, mask: np.ndarray, face: FaceBox | None, params: Mapping[str, Any]) -> np.ndarray:
    """Graphite on paper: colour-dodge sketch of the luminance, diagonal hatching in the shadows, a faded
    background and warm paper grain."""
    u = _unit(rgb)
    grey = _luma(rgb).astype(np.float32)
    blur = cv2.GaussianBlur(255.0 - grey, (0, 0), float(params.get("blur", 21)) * u / 3.0)
    dodge = np.clip(grey * 255.0 / np.maximum(255.0 - blur, 1.0), 0, 255)
    dodge = 255.0 * (dodge / 255.0) ** 2.2  # darker graphite strokes
    h, w = grey.shape
    # hatching: diagonal streaks of noise, shown where the photo is dark
    streaks = _noise(h, w, 11)
    kernel = np.eye(_odd(15 * u), dtype=np.float32)[::-1] / _odd(15 * u)
    streaks = cv2.filter2D(streaks, -1, kernel)
    streaks /= max(float(streaks.std()), 1e-6)
    darkness = np.clip(1.0 - cv2.GaussianBlur(grey, (0, 0), 4 * u) / 170.0, 0, 1)
    hatch = np.clip(1.0 - darkness * (0.35 + 0.18 * streaks), 0, 1) * 255.0
    drawing = np.minimum(dodge, hatch)
    m = _soft_mask(mask, u, grow=24)
    drawing = blend(np.full_like(drawing, 250.0), drawing, 0.35 + 0.65 * m)  # fade the background out
    paper = np.array([246.0, 240.0, 226.0], np.float32) + _noise(h, w, 5, blur=0.7 * u)[..., None] * 3.0
    return to_u8(paper * (drawing / 255.0)[..., None])


def watercolor(rgb: np.ndarray, mask: np.ndarray, face: FaceBox | None, params: Mapping[str, Any]) -> np.ndarray:
    """Flat washes from mean-shift segmentation (computed at half size: washes are soft anyway), translucent
    lightened colours with soft bleeding edges, pigment granulation and pooled rims, a wash that fades into white
    paper away from the subject, and a faint pencil underdrawing."""
    u = _unit(rgb)
    h, w = rgb.shape[:2]
    half = cv2.resize(rgb, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    flat = cv2.pyrMeanShiftFiltering(
        half, max(2, round(float(params.get("spatial", 7)) * u)), float(params.get("range", 28))
    )
    wash = cv2.resize(flat, (w, h), interpolation=cv2.INTER_LINEAR)
    wash = _saturate(wash, 1.2).astype(np.float32) / 255.0
    wash = 0.45 * wash + 0.55 * cv2.GaussianBlur(wash, (0, 0), 3.0 * u)  # colours bleed
    wash = 0.14 + 0.86 * wash**0.8  # translucent: no deep blacks, lighter mid tones
    granul = _noise(h, w, 3, blur=2.5 * u)
    blotches = _noise(h, w, 8, blur=30 * u)
    pigment = wash * (1.0 - 0.02 * granul[..., None] * (1.0 - wash))  # granulation shows in the darker washes
    # pooled pigment: a slightly darker rim where a wash ends
    grey = pigment.mean(axis=2)
    rim = np.clip(cv2.GaussianBlur(grey, (0, 0), 3 * u) - grey, 0, 0.15)
    pigment = pigment - rim[..., None] * 0.6
    paper = np.array([0.99, 0.98, 0.955], np.float32)
    # the wash fades to paper with an irregular border around the subject; the backdrop keeps a pale wash
    m = np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 12 * u) * 1.4 + blotches * 0.25, 0, 1)
    backdrop = blend(paper, pigment, np.clip(0.16 + 0.12 * blotches, 0.0, 0.45))
    out = blend(backdrop, pigment, m)
    underdrawing = _xdog(_luma(rgb), sigma=1.0 * u, p=18.0, eps=0.1, phi=6.0)
    out = out * (0.85 + 0.15 * underdrawing)[..., None]
    out = out + _noise(h, w, 4, blur=0.9 * u)[..., None] * 0.008  # paper tooth
    return to_u8(out * 255.0)


def vintage(rgb: np.ndarray, mask: np.ndarray, face: FaceBox | None, params: Mapping[str, Any]) -> np.ndarray:
    """Faded 1970s print: lifted blacks, warm highlights and teal shadows, lower saturation, soft halation,
    film grain and a vignette."""
    u = _unit(rgb)
    img = _saturate(rgb, 0.62).astype(np.float32) / 255.0
    img = 0.1 + 0.8 * (img * img * (3 - 2 * img)) * 0.5 + 0.8 * img * 0.5  # S-curve, lifted blacks
    lum = img.mean(axis=2, keepdims=True)
    shadows = np.array([-0.04, 0.03, 0.06], np.float32) * (1 - lum)
    highs = np.array([0.1, 0.04, -0.09], np.float32) * lum
    img = img + shadows + highs
    glow = cv2.GaussianBlur(img, (0, 0), 12 * u)
    img = 1 - (1 - img) * (1 - 0.22 * glow * np.array([1.0, 0.85, 0.7], np.float32))  # screen: warm halation
    h, w = rgb.shape[:2]
    grain = _noise(h, w, 21, blur=0.6 * u)[..., None] * float(params.get("grain", 0.06))
    img = img + grain * (0.5 + 0.5 * (1 - lum))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2)
    img = img * (1 - 0.35 * np.clip(r - 0.55, 0, 1) ** 1.5)[..., None]
    return to_u8(img * 255.0)


def _gradient_map(lum: np.ndarray, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    xs = np.array([s for s, _ in stops], np.float32)
    cols = np.array([c for _, c in stops], np.float32)
    return np.stack([np.interp(lum, xs, cols[:, i]) for i in range(3)], axis=-1).astype(np.float32)


def cyberpunk(rgb: np.ndarray, mask: np.ndarray, face: FaceBox | None, params: Mapping[str, Any]) -> np.ndarray:
    """Neon duotone: the subject's luminance mapped onto a violet-magenta-cyan gradient, a dark city-night
    background with a neon grid, a cyan/magenta rim light around the person and a touch of chromatic aberration."""
    u = _unit(rgb)
    h, w = rgb.shape[:2]
    grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(_luma(rgb)).astype(np.float32) / 255.0
    stops = [
        (0.0, (18, 4, 40)),
        (0.35, (120, 20, 160)),
        (0.6, (255, 40, 170)),
        (0.8, (60, 220, 255)),
        (1.0, (235, 255, 255)),
    ]
    subject = _gradient_map(grey, stops)
    subject = blend(subject, rgb.astype(np.float32), 0.18)
    # background: dark gradient + a perspective neon grid
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = _gradient_map(yy / h, [(0.0, (10, 6, 30)), (0.6, (40, 8, 60)), (1.0, (70, 10, 80))])
    horizon = 0.55 * h
    below = np.clip((yy - horizon) / (h - horizon), 0, 1)
    depth = 1.0 / np.maximum(below, 0.02)
    hlines = np.abs(np.sin(depth * 3.0)) < 0.08 * np.sqrt(below + 1e-3)
    vlines = np.abs(np.sin((xx - w / 2) / np.maximum(below, 0.05) / (40 * u))) < 0.06
    grid = ((hlines | vlines) & (below > 0)).astype(np.float32) * below
    grid = cv2.GaussianBlur(grid, (0, 0), 1.2 * u)
    bg = bg + grid[..., None] * np.array([255.0, 60.0, 220.0], np.float32) * 0.9
    m = _soft_mask(mask, u)
    out = blend(bg, subject, m)
    # rim light: the mask's outer edge glowing cyan on one side, magenta on the other
    ring = np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 10 * u) - m * 0.85, 0, 1)
    side = np.clip(xx / w, 0, 1)[..., None]
    neon = blend(np.array([40.0, 240.0, 255.0], np.float32), np.array([255.0, 40.0, 200.0], np.float32), side)
    out = out + neon * ring[..., None] * 1.6
    # chromatic aberration: red and blue planes shifted apart
    shift = max(1, round(3 * u))
    out[..., 0] = np.roll(out[..., 0], shift, axis=1)
    out[..., 2] = np.roll(out[..., 2], -shift, axis=1)
    scan = 1.0 - 0.06 * (np.arange(h) % max(2, round(4 * u)) == 0).astype(np.float32)
    return to_u8(out * scan[:, None, None])


_POP_PALETTES = (  # (background, shadow, mid, light) per panel
    ((255, 221, 0), (30, 20, 90), (230, 30, 120), (255, 170, 200)),
    ((0, 190, 255), (90, 10, 20), (255, 90, 0), (255, 230, 120)),
    ((255, 60, 140), (10, 60, 40), (40, 200, 90), (210, 255, 120)),
    ((120, 255, 120), (40, 0, 80), (120, 60, 255), (180, 240, 255)),
)


def pop_art(rgb: np.ndarray, mask: np.ndarray, face: FaceBox | None, params: Mapping[str, Any]) -> np.ndarray:
    """Warhol-style 2x2 grid: each panel posterises the portrait into three flat inks on a loud background,
    with halftone dots in the mid tones and black outlines."""
    u = _unit(rgb)
    h, w = rgb.shape[:2]
    ph, pw = h // 2, w // 2
    small = cv2.resize(rgb, (pw, ph), interpolation=cv2.INTER_AREA)
    pmask = cv2.resize(mask.astype(np.float32), (pw, ph), interpolation=cv2.INTER_AREA)
    smooth = cv2.bilateralFilter(small, _odd(9 * u), 50, 9 * u)
    grey = cv2.createCLAHE(clipLimit=2.5, tileGridSize=(6, 6)).apply(_luma(smooth)).astype(np.float32)
    level = np.digitize(cv2.GaussianBlur(grey, (0, 0), 1.5 * u), [95.0, 165.0])  # 0 shadow, 1 mid, 2 light
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    period = max(4.0, 9.0 * u)
    dots = (np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)) > 0.35
    lines = _xdog(_luma(smooth), sigma=1.3 * u, p=25.0, eps=0.15, phi=20.0) < 0.5
    m = cv2.GaussianBlur((pmask > 0.5).astype(np.float32), (0, 0), 1.0 * u) > 0.5
    out = np.zeros((ph * 2, pw * 2, 3), np.uint8)
    for i, (bg, dark, mid, light) in enumerate(_POP_PALETTES):
        panel = np.empty((ph, pw, 3), np.uint8)
        panel[:] = bg
        inks = np.array([dark, mid, light], np.uint8)[level]
        inks[(level == 1) & dots] = dark
        panel[m] = inks[m]
        panel[lines & m] = (10, 10, 10)
        out[(i // 2) * ph : (i // 2 + 1) * ph, (i % 2) * pw : (i % 2 + 1) * pw] = panel
    gutter = max(2, round(6 * u))
    out[ph - gutter // 2 : ph + (gutter + 1) // 2, :] = 255
    out[:, pw - gutter // 2 : pw + (gutter + 1) // 2] = 255
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_NEAREST) if out.shape[:2] != (h, w) else out


RENDERERS: Mapping[str, Renderer] = {
    "anime": anime,
    "oil": oil,
    "sketch": sketch,
    "watercolor": watercolor,
    "vintage": vintage,
    "cyberpunk": cyberpunk,
    "pop_art": pop_art,
}
