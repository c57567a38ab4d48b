"""A DataCache keeps prepared data across runs in one process (a sweep's worker): each
distinct data section is read and preprocessed once, runs train exactly as without it, and
no run can change what the next one trains on."""

from __future__ import annotations

import pytest

from mlpspec.core.spec import parse_toml, validate_spec
from mlpspec.run import builder
from mlpspec.run.builder import DataCache
from mlpspec.run.runner import run

from ..conftest import SPIRALS_SPEC


@pytest.fixture
def prepared(monkeypatch) -> list[str]:
    """The names of the datasets prepared (read and preprocessed), in order."""
    calls: list[str] = []
    real = builder.prepare

    def counted(dataset, **options):
        calls.append(options["name"])
        return real(dataset, **options)

    monkeypatch.setattr(builder, "prepare", counted)
    return calls


def spec_of(text: str, registry):
    return validate_spec(parse_toml(text), registry)


def test_runs_sharing_a_cache_prepare_the_data_once_and_train_as_without_it(
    registry, prepared
):
    spec = spec_of(SPIRALS_SPEC, registry)
    cache = DataCache()
    cached = [run(spec, registry, out_dir=None, data_cache=cache) for _ in range(2)]
    assert len(prepared) == 1
    plain = run(spec, registry, out_dir=None)
    assert len(prepared) == 2
    for result in cached:
        assert result.record.train == plain.record.train
        for name, value in plain.model.state().items():
            assert result.model.state()[name].tobytes() == value.tobytes()


def test_another_data_section_is_prepared_anew(registry, prepared):
    cache = DataCache()
    first = run(spec_of(SPIRALS_SPEC, registry), registry, out_dir=None, data_cache=cache)
    other = SPIRALS_SPEC.replace("validation = 40", "validation = 30")
    second = run(spec_of(other, registry), registry, out_dir=None, data_cache=cache)
    assert len(prepared) == 2
    assert len(second.splits.x_train) == len(first.splits.x_train) + 10
    # a network or a training section of its own shares the data
    wider = SPIRALS_SPEC.replace("units = 16", "units = 8")
    run(spec_of(wider, registry), registry, out_dir=None, data_cache=cache)
    assert len(prepared) == 2


def test_cached_data_cannot_be_changed_by_a_run(registry):
    cache = DataCache()
    splits = run(spec_of(SPIRALS_SPEC, registry), registry, out_dir=None, data_cache=cache).splits
    for array in (splits.x_train, splits.y_train, splits.x_test, splits.y_test):
        assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        splits.x_train[0] += 1
