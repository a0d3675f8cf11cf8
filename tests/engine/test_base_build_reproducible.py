"""The same recipe on the same machine builds byte-identical base weights, and the record says what could change them."""

from __future__ import annotations


def test_same_recipe_same_machine_gives_byte_identical_weights(tmp_path, tiny_recipe):
    from textrl.models.builtin import build_tiny_model

    records = [build_tiny_model(tiny_recipe, tmp_path / name, log=lambda *_: None) for name in ("a", "b")]
    a, b = ((tmp_path / name / "model.safetensors").read_bytes() for name in ("a", "b"))
    assert a == b
    assert records[0]["key"] == records[1]["key"]
    machine = records[0]["built_on"]
    for field in ("platform", "cpu", "cpu_count", "mlx", "blas", "jit", "threads"):
        assert field in machine, field
