"""The direct-mode CLI against a real registry: output for people and for scripts, and exit codes."""

import json

from typer.testing import CliRunner

from kubectl_oras.cli import app
from tests.support.trees import make_tree, snapshot

runner = CliRunner()


def cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr
    return result


def test_push_pull_tags_ls_rm_round_trip_with_json_output(any_registry, workdir):
    host = any_registry.host
    make_tree(workdir / "results")
    (workdir / "hwloc.xml").write_text("<topology/>")
    r = cli("push", "metric/hwloc:iter-0", "hwloc.xml", "results", "-r", host, "--plain-http", "-a", "iteration=0", "-o", "json")
    assert r.exit_code == 0, r.stderr
    pushed = json.loads(r.stdout)
    assert pushed["reference"] == f"{host}/metric/hwloc:iter-0"
    assert [layer["annotations"]["org.opencontainers.image.title"] for layer in pushed["layers"]] == ["hwloc.xml", "results"]

    r = cli("pull", "metric/hwloc:iter-0", "-o", workdir / "out", "-r", host, "--plain-http", "--format", "json")
    assert r.exit_code == 0, r.stderr
    pulled = json.loads(r.stdout)
    assert pulled["digest"] == pushed["digest"]
    assert snapshot(workdir / "out" / "results") == snapshot(workdir / "results")

    r = cli("tags", "metric/hwloc", "-r", host, "--plain-http", "-o", "json")
    assert json.loads(r.stdout) == {"repository": "metric/hwloc", "tags": ["iter-0"]}
    r = cli("ls", "-r", host, "--plain-http")
    assert "metric/hwloc" in r.stdout.splitlines()
    r = cli("rm", "metric/hwloc:iter-0", "-r", host, "--plain-http")
    assert r.exit_code == 0 and "Deleted" in r.stdout
    assert cli("tags", "metric/hwloc", "-r", host, "--plain-http").stdout.strip() == ""


def test_the_registry_can_be_written_in_the_reference(any_registry, workdir):
    (workdir / "f.txt").write_text("f")
    assert cli("push", f"{any_registry.host}/inline/ref:1", "f.txt", "--plain-http").exit_code == 0
    r = cli("pull", f"{any_registry.host}/inline/ref:1", "-o", workdir / "o", "--plain-http")
    assert r.exit_code == 0 and (workdir / "o" / "f.txt").read_text() == "f"


def one_error_line(result, *needles):
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_reference_is_one_clear_line(any_registry, workdir):
    one_error_line(cli("pull", "Bad/Ref:x", "-r", any_registry.host, "--plain-http"), "invalid reference", "'Bad/Ref'")


def test_missing_path_is_named(any_registry, workdir):
    one_error_line(cli("push", "x/y:1", "nope.txt", "-r", any_registry.host, "--plain-http"), "nope.txt", "no such file")


def test_unreachable_registry_is_named(workdir):
    from tests.support.net import free_port

    host = f"127.0.0.1:{free_port()}"
    one_error_line(cli("tags", "x/y", "-r", host, "--plain-http"), host)


def test_missing_tag_says_not_found(any_registry, workdir):
    one_error_line(cli("pull", "never/pushed:1", "-r", any_registry.host, "--plain-http", "-o", workdir), "not found")


def test_traversal_attempt_is_one_line_and_writes_nothing(any_registry, workdir):
    from kubectl_oras.oci.client import RegistryClient
    from kubectl_oras.oci.digests import sha256_digest
    from kubectl_oras.oci.manifest import EMPTY_CONFIG, EMPTY_CONFIG_BLOB, build_manifest, encode_manifest, file_layer

    client = RegistryClient(any_registry.host, plain_http=True)
    client.upload_blob_bytes("evil/x", EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
    client.upload_blob_bytes("evil/x", b"pwned", sha256_digest(b"pwned"))
    layer = file_layer(title="../../pwned.txt", digest=sha256_digest(b"pwned"), size=5)
    client.put_manifest("evil/x", "1", encode_manifest(build_manifest(layers=[layer])))
    (workdir / "out").mkdir()
    one_error_line(cli("pull", "evil/x:1", "-r", any_registry.host, "--plain-http", "-o", workdir / "out"),
                   "'..'", "../../pwned.txt")
    assert list((workdir / "out").iterdir()) == []


def test_bad_annotation_is_named(any_registry, workdir):
    (workdir / "f").write_text("f")
    one_error_line(cli("push", "x/y:1", "f", "-a", "novalue", "-r", any_registry.host, "--plain-http"), "'novalue'", "key=value")


def test_help_explains_every_command():
    r = cli("--help")
    for command in ("push", "pull", "tags", "ls", "rm"):
        assert command in r.stdout
    assert "--include" in cli("pull", "--help").stdout
