"""bench/fanout.py's sizes from the environment: the figures' defaults, and a value that is not a
size stops it naming the variable (a quick run in CI sets them all)."""

import pytest

from bench.fanout import Sizes


def test_the_defaults_are_the_documented_run(monkeypatch):
    for name in ("FANOUT_COMPLETIONS", "FANOUT_PARALLELISM", "FANOUT_INPUT_MIB", "FANOUT_OUTPUT_MIB"):
        monkeypatch.delenv(name, raising=False)
    assert Sizes.from_env() == Sizes(completions=32, parallelism=16, input_mib=64, output_mib=4)
    monkeypatch.setenv("FANOUT_INPUT_MIB", "8")
    assert Sizes.from_env().input_mib == 8


@pytest.mark.parametrize("value", ["", "0", "-3", "64M", "1.5"])
def test_a_size_that_is_not_a_whole_number_of_at_least_one_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("FANOUT_INPUT_MIB", value)
    with pytest.raises(SystemExit, match=f"FANOUT_INPUT_MIB={value!r}: a whole number of at least 1 is needed"):
        Sizes.from_env()
