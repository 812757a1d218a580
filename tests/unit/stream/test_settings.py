from __future__ import annotations

import pytest
from pydantic import ValidationError

from stream.settings import Settings


def test_environment_prefix_and_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_BROKER", "kafka://k1:9092,k2:9092")
    monkeypatch.setenv("VIGIL_BATCH_MAX", "128")
    monkeypatch.setenv("VIGIL_INSTANCE_ID", "pod-0")
    s = Settings()
    assert s.broker == "k1:9092,k2:9092"
    assert s.faust_broker_url == "kafka://k1:9092;kafka://k2:9092"
    assert s.batch_max == 128
    assert s.instance_id == "pod-0"


def test_explicit_values_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_BROKER", "k1:9092")
    assert Settings(broker="k2:9093").broker == "k2:9093"


@pytest.mark.parametrize(
    ("name", "value"),
    [("VIGIL_BROKER", "no-port"), ("VIGIL_BATCH_MAX", "0"), ("VIGIL_METRICS_PORT", "70000")],
)
def test_invalid_values_are_rejected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_every_setting_documents_its_default() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert "Default" in field.description, name
