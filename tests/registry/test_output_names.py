"""-o name against a real registry: what each command names, one a line, for the next command of a
script (`kubectl oras gc … -o name | xargs …`)."""

from __future__ import annotations

from typer.testing import CliRunner

from kubectl_oras.cli import app

runner = CliRunner()


def test_push_tags_ls_and_gc_print_names(any_registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("x")
    target = ["-r", any_registry.host, "--plain-http"]
    for tag, created in (("iter-0", "2020-01-01T00:00:00Z"), ("iter-1", "2021-01-01T00:00:00Z")):  # iter-0 older
        pushed = runner.invoke(app, ["push", f"named/a:{tag}", "f.txt", *target, "-o", "name",
                                     "-a", f"org.opencontainers.image.created={created}"])
        assert (pushed.exit_code, pushed.stdout) == (0, f"{any_registry.host}/named/a:{tag}\n"), pushed.output
    tags = runner.invoke(app, ["tags", "named/a", *target, "-o", "name"]).stdout
    assert sorted(tags.splitlines()) == ["named/a:iter-0", "named/a:iter-1"]
    assert "named/a\n" in runner.invoke(app, ["ls", *target, "-o", "name"]).stdout
    would = runner.invoke(app, ["gc", "named/a", "--keep-last", "1", "--min-age", "0s", "--dry-run", *target,
                                "-o", "name"])
    assert would.exit_code == 0, would.output
    # the one gc would delete, and the tag that indexes its provenance statement (docs/retention.md)
    digest = runner.invoke(app, ["inspect", "named/a:iter-0", *target, "-o", "jsonpath={.digest}"]).stdout
    assert digest.startswith("sha256:"), digest
    assert would.stdout == f"named/a:iter-0\nnamed/a:sha256-{digest.removeprefix('sha256:')}\n"
