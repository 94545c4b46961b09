from __future__ import annotations

import pytest

from consentcam.config import load_settings
from consentcam.errors import ConfigError


def test_defaults_are_sane() -> None:
    s = load_settings()
    assert s.vision.detect.type == "hog" and s.vision.detect.upsample == 1
    assert s.dev is False


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTCAM_VISION__EMBED__FLIP", "false")
    monkeypatch.setenv("CONSENTCAM_VISION__DETECT__UPSAMPLE", "2")
    s = load_settings()
    assert s.vision.embed.flip is False and s.vision.detect.upsample == 2


def test_unknown_keys_and_bad_values_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"vision\.detect\.upsample"):
        load_settings(vision={"detect": {"upsample": 7}})
    with pytest.raises(ConfigError, match=r"vision\.detect\.upsampel"):
        load_settings(vision={"detect": {"upsampel": 1}})


def test_every_field_is_described() -> None:
    from pydantic import BaseModel

    from consentcam.config import Settings

    def walk(model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            assert field.description or isinstance(field.default_factory, type), name
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann)

    walk(Settings)
