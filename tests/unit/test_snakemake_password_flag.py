"""A password never on Snakemake's command line: which arguments give it, in argparse's spellings."""

from __future__ import annotations

from snakemake_storage_plugin_oras.password_flag import password_flag, refusal


def test_the_flag_and_its_unambiguous_abbreviations_give_the_password():
    assert password_flag(["-j", "2", "--storage-oras-password", "s3cret"]) == "--storage-oras-password"
    assert password_flag(["--storage-oras-password=s3cret"]) == "--storage-oras-password"
    assert password_flag(["--storage-oras-pass", "s3cret"]) == "--storage-oras-pass"
    assert password_flag(["--storage-oras-pa=s3cret"]) == "--storage-oras-pa"


def test_other_flags_and_values_after_a_double_dash_do_not():
    assert password_flag(["--storage-oras-plain-http", "--storage-oras-p", "--storage-oras-username", "u"]) is None
    assert password_flag(["--", "--storage-oras-password"]) is None
    assert password_flag(["--config", "x=--storage-oras-password"]) is None


def test_the_refusal_names_the_flag_and_the_variable_and_never_the_value():
    said = refusal("--storage-oras-pass")
    assert said.startswith("--storage-oras-pass: ")
    assert "SNAKEMAKE_STORAGE_ORAS_PASSWORD" in said
    assert "\n" not in said
