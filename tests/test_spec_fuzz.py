"""Bad input, tried by machine: thousands of generated specs, each valid or rejected with exit
status 2, a message naming its place, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from .spec_cases import BASE, as_toml, damaged_bytes, judge, mutated_specs

OUTCOMES: Counter[str] = Counter()
FUZZ = settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "spec.toml"


@FUZZ
@given(data=mutated_specs())
def test_generated_specs_are_valid_or_rejected_at_their_place(data, registry, scratch):
    OUTCOMES[judge(as_toml(data), registry, scratch)] += 1


@FUZZ
@given(raw=damaged_bytes())
def test_damaged_spec_files_are_rejected_at_their_place(raw, registry, scratch):
    OUTCOMES[judge(raw, registry, scratch)] += 1


def test_the_fuzzing_tried_thousands_of_cases(record_property):
    """Runs after the two above (file order): records how many cases they tried."""
    tried = sum(OUTCOMES.values())
    record_property("spec_cases", tried)
    print(f"\nspec cases tried: {tried}: {dict(OUTCOMES.most_common())}")
    if tried == 2 * FUZZ.max_examples:  # both ran (not so with -k or one test alone)
        assert OUTCOMES["valid"] and OUTCOMES["too large for memory"]
        assert len(OUTCOMES) >= 10  # most kinds of rejection were reached


BAD_SPECS = {
    "units = -3": ("units", -3, "layers[0].units"),
    "units = nan": ("units", float("nan"), "layers[0].units"),
    "a billion units": ("units", 10**9, "layers[0]"),
    "os.system as an activation": ("activation", "os.system", "layers[0].activation"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_the_command_exits_2_with_the_place_and_no_traceback(tmp_path, case):
    key, value, place = BAD_SPECS[case]
    data = {**BASE, "layers": [dict(BASE["layers"][0]), dict(BASE["layers"][1])]}
    data["data"] = {"dataset": {"type": "spirals", "classes": 10, "points": 20}}
    data["layers"][0][key] = value
    path = tmp_path / "bad.toml"
    path.write_bytes(as_toml(data))
    for command in (["validate", str(path)], ["run", str(path), "--no-save"]):
        if command[0] == "validate" and case == "a billion units":
            continue  # the memory estimate needs the data's width: made by run, before building
        result = subprocess.run(
            [sys.executable, "-m", "mlpspec", *command],
            capture_output=True,
            text=True,
            env={**os.environ, "MLPSPEC_MAX_MEMORY": "4G"},
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert f"  {place}" in result.stderr, result.stderr


def test_invalid_bytes_exit_2_naming_the_place(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(as_toml(BASE).replace(b"fuzz", b"fu\xffzz"))
    result = subprocess.run(
        [sys.executable, "-m", "mlpspec", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "byte " in result.stderr, result.stderr
