"""The package's example spec runs through mlpspec, with the components of this package."""

from __future__ import annotations

import json
from pathlib import Path

import mlpspec

SPECS = Path(__file__).resolve().parents[1] / "specs"


def test_the_example_spec_trains_with_adamw_and_cosine_warmup(tmp_path):
    registry = mlpspec.load_registry()
    spec = mlpspec.load_spec(SPECS / "spirals_adamw_cosine.toml", registry)
    result = mlpspec.run(spec, registry, out_dir=tmp_path)
    assert result.test_accuracy > 0.9
    supplied = json.loads((result.run_dir / "components.json").read_text())
    ours = {(c["kind"], c["name"]) for c in supplied if c["distribution"] == "mlpspec-optim"}
    assert ours == {("optimizer", "adamw"), ("scheduler", "cosine_warmup")}
