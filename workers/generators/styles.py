"""The style catalogue, as data. ``params`` are read by the classical (CPU) backend; ``renderer`` names its
rendering function, so several entries can share one renderer with different parameters.

ID photo sizes are pixels at 300 dpi: China 1-inch 25x35 mm -> 295x413, 2-inch 35x49 mm -> 413x579, passport/visa
33x48 mm -> 390x567. ``head_fraction`` is crown-to-chin height over the photo height and ``top_fraction`` the gap
above the crown (China passport rule: head 28-33 mm of 48, crown 3-5 mm below the top edge).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .base import StyleKind, StyleSpec, UnknownStyle

# Background colours (RGB) accepted by ID photo styles' ``background`` parameter.
ID_BACKGROUNDS: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {"white": (255, 255, 255), "blue": (67, 142, 219), "red": (255, 0, 0)}
)

_CATALOGUE: tuple[StyleSpec, ...] = (
    # --- photo styles: one portrait in, one stylised image out (default long side 1024 px)
    StyleSpec("anime", "photo", {"renderer": "anime", "bands": 5, "line_strength": 0.85}, "动漫", "Anime"),
    StyleSpec("oil_painting", "photo", {"renderer": "oil", "brush": 7, "dyn_ratio": 1}, "油画", "Oil painting"),
    StyleSpec("pencil_sketch", "photo", {"renderer": "sketch", "blur": 21}, "素描", "Pencil sketch"),
    StyleSpec("watercolor", "photo", {"renderer": "watercolor", "spatial": 7, "range": 28}, "水彩", "Watercolor"),
    StyleSpec("vintage_film", "photo", {"renderer": "vintage", "grain": 0.06}, "复古胶片", "Vintage film"),
    StyleSpec("cyberpunk", "photo", {"renderer": "cyberpunk"}, "赛博朋克", "Cyberpunk neon"),
    StyleSpec("pop_art", "photo", {"renderer": "pop_art"}, "波普艺术", "Pop art"),
    # --- ID photos: exact pixel size, background replaced with a flat colour
    StyleSpec(
        "id_cn_1inch",
        "id_photo",
        {
            "renderer": "id_photo",
            "size": (295, 413),
            "background": "white",
            "head_fraction": 0.58,
            "top_fraction": 0.09,
        },
        "一寸证件照（白底）",
        "China 1-inch ID photo (white)",
    ),
    StyleSpec(
        "id_cn_2inch",
        "id_photo",
        {"renderer": "id_photo", "size": (413, 579), "background": "blue", "head_fraction": 0.56, "top_fraction": 0.09},
        "二寸证件照（蓝底）",
        "China 2-inch ID photo (blue)",
    ),
    StyleSpec(
        "id_passport",
        "id_photo",
        {
            "renderer": "id_photo",
            "size": (390, 567),
            "background": "white",
            "head_fraction": 0.64,
            "top_fraction": 0.08,
        },
        "护照/签证照",
        "Passport / visa photo",
    ),
    # --- avatar: 3-10 portraits in, one square avatar out (the best portrait, aligned and stylised)
    StyleSpec("avatar", "avatar", {"renderer": "avatar", "render_style": "anime"}, "专属头像", "Personal avatar"),
    # --- video: one portrait in, a short H.264 MP4 out
    StyleSpec(
        "living_photo",
        "video",
        {
            "renderer": "ken_burns",
            "render_style": "watercolor",
            "seconds": 2.5,
            "fps": 24,
            "zoom": 1.18,
            "long_side": 720,
        },
        "动态写真",
        "Living photo (video)",
    ),
)

STYLES: Mapping[str, StyleSpec] = MappingProxyType({s.id: s for s in _CATALOGUE})


def get_style(style_id: str) -> StyleSpec:
    try:
        return STYLES[style_id]
    except KeyError:
        raise UnknownStyle(f"unknown style {style_id!r}") from None


def list_styles(kind: StyleKind | None = None) -> list[StyleSpec]:
    return [s for s in _CATALOGUE if kind is None or s.kind == kind]
