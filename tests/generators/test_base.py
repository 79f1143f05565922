"""The interface, the registry and the catalogue: no model dependency needed."""

from __future__ import annotations

import pytest

from workers.generators import (
    STYLES,
    GenerationRequest,
    GeneratorUnavailable,
    InvalidRequest,
    StyleSpec,
    UnknownGenerator,
    UnknownStyle,
    available_generators,
    get_generator,
    get_style,
    list_styles,
    register_generator,
)
from workers.generators import base as base_module


def test_catalogue_has_the_promised_styles():
    kinds = [s.kind for s in STYLES.values()]
    assert kinds.count("photo") >= 6
    assert kinds.count("id_photo") >= 3
    assert kinds.count("avatar") >= 1
    assert kinds.count("video") >= 1
    for style in STYLES.values():
        assert style.name_zh and style.name_en
        assert "renderer" in style.params
    sizes = {s.id: tuple(s.params["size"]) for s in list_styles("id_photo")}
    assert sizes == {"id_cn_1inch": (295, 413), "id_cn_2inch": (413, 579), "id_passport": (390, 567)}


def test_unknown_style_is_a_clear_error():
    with pytest.raises(UnknownStyle, match="nope"):
        get_style("nope")


def test_style_params_are_read_only_and_overridable():
    passport = get_style("id_passport")
    with pytest.raises(TypeError):
        passport.params["background"] = "red"  # type: ignore[index]
    red = passport.with_params(background="red")
    assert red.params["background"] == "red"
    assert passport.params["background"] == "white"
    assert red.params["size"] == passport.params["size"]


def test_request_validation():
    photo = get_style("anime")
    with pytest.raises(InvalidRequest, match="1 source"):
        GenerationRequest(style=photo, sources=())
    with pytest.raises(InvalidRequest, match="3–10"):
        GenerationRequest(style=get_style("avatar"), sources=(b"x", b"y"))
    with pytest.raises(InvalidRequest, match="bytes"):
        GenerationRequest(style=photo, sources=("not bytes",))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="long_side"):
        GenerationRequest(style=photo, sources=(b"x",), long_side=10)
    with pytest.raises(InvalidRequest, match="image_format"):
        GenerationRequest(style=photo, sources=(b"x",), image_format="gif")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="kind"):
        StyleSpec("x", "poster", {})  # type: ignore[arg-type]
    req = GenerationRequest(style=photo, sources=[bytearray(b"abc")])  # type: ignore[list-item]
    assert req.sources == (b"abc",)


def test_registry_knows_classical_and_rejects_unknown_names():
    assert {"classical", "diffusion"} <= set(available_generators())
    with pytest.raises(UnknownGenerator, match=r"unknown generator 'nope'; available: classical, diffusion"):
        get_generator("nope")


def test_registry_accepts_a_new_backend(monkeypatch):
    monkeypatch.setattr(base_module, "_FACTORIES", dict(base_module._FACTORIES))
    monkeypatch.setattr(base_module, "_INSTANCES", {})

    class Dummy:
        name = "dummy"

        def generate(self, request, progress):
            return []

    register_generator("dummy", Dummy)
    first = get_generator("dummy")
    assert first is get_generator("dummy")  # one instance per process
    assert isinstance(first, base_module.Generator)


def test_a_backend_whose_packages_are_missing_is_reported(monkeypatch):
    monkeypatch.setattr(base_module, "_FACTORIES", dict(base_module._FACTORIES))
    monkeypatch.setattr(base_module, "_INSTANCES", {})
    register_generator("broken", "workers.generators.not_installed_backend:Backend")
    with pytest.raises(GeneratorUnavailable, match=r"requirements-nodeps\.in"):
        get_generator("broken")
