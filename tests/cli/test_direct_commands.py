"""The direct-mode CLI against a real registry: output for people and for scripts, and exit codes."""

import json
import time

import pytest
import yaml
from typer.testing import CliRunner

from kubectl_oras.cli import app
from kubectl_oras.oci.manifest import ANNOTATION_TITLE, EMPTY_CONFIG_BLOB, FILE_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from tests.support.lying_registry import Answer, LyingRegistry
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


def test_every_command_that_prints_data_prints_it_as_yaml_too(any_registry, workdir):
    host = any_registry.host
    (workdir / "hwloc.xml").write_text("<topology/>")
    as_yaml = {}
    for name, args in (("push", ["push", "metric/hwloc:iter-0", "hwloc.xml", "-o", "yaml"]),
                       ("pull", ["pull", "metric/hwloc:iter-0", "-o", workdir / "out", "--format", "yaml"]),
                       ("tags", ["tags", "metric/hwloc", "-o", "yaml"]),
                       ("ls", ["ls", "-o", "yaml"]),
                       ("gc", ["gc", "metric/hwloc", "--keep-last", "1", "--dry-run", "-o", "yaml"]),
                       ("rm", ["rm", "metric/hwloc:iter-0", "-o", "yaml"])):
        r = cli(*args, "-r", host, "--plain-http")
        assert r.exit_code == 0, (name, r.stderr)
        as_yaml[name] = yaml.safe_load(r.stdout)
    assert as_yaml["push"]["reference"] == as_yaml["pull"]["reference"] == as_yaml["rm"]["reference"] == \
        f"{host}/metric/hwloc:iter-0"
    assert as_yaml["pull"]["digest"] == as_yaml["push"]["digest"] == as_yaml["rm"]["digest"]
    assert as_yaml["tags"] == {"repository": "metric/hwloc", "tags": ["iter-0"]}
    assert "metric/hwloc" in as_yaml["ls"]["repositories"]
    assert as_yaml["gc"]["registry"] == host and as_yaml["gc"]["dryRun"] is True


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


@pytest.mark.parametrize("command", ["push", "pull", "tags", "ls", "rm", "gc"])
def test_every_transfer_command_lists_the_shared_target_options(command):
    """The ten options are declared once (cli/targets.py: transfer_command) and still each command's."""
    shown = cli(command, "--help").stdout
    for option in ("--registry", "--plain-http", "--insecure", "--cache", "--kubeconfig", "--context", "--namespace",
                   "--timeout", "--connect-timeout", "--read-timeout", "--output"):
        assert option in shown, (command, option)
    assert "KUBECTL_ORAS_TIMEOUT" in shown and "yaml" in shown


# -- a registry (or token service) that lies: one line naming the registry and the request ----------

LAYER_DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def liar():
    fake = LyingRegistry().start()
    yield fake
    fake.stop()


def json_answer(data) -> Answer:
    return Answer(json.dumps(data).encode(), headers={"Content-Type": "application/json"})


def manifest_with(layer) -> Answer:
    return Answer(json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "config": EMPTY_CONFIG_BLOB.descriptor(),
                              "layers": [layer]}).encode(), headers={"Content-Type": MANIFEST_MEDIA_TYPE})


@pytest.mark.parametrize("command, path, body, needles", [
    (["tags", "x/y"], "/v2/x/y/tags/list", ["v1", "v2"], ["list tags of {host}/x/y", "not an object with 'tags'"]),
    (["ls"], "/v2/_catalog", ["x/y"], ["list repositories of {host}", "not an object with 'repositories'"]),
    (["tags", "x/y"], "/v2/x/y/tags/list", {"name": "x/y", "tags": "v1"}, ["list tags of {host}/x/y", "'tags' as 'v1'"]),
    (["tags", "x/y"], "/v2/x/y/tags/list", {"name": "x/y", "tags": [1, 2]}, ["list tags of {host}/x/y", "not a list of names"]),
    (["ls"], "/v2/_catalog", {"repositories": {"x": "y"}}, ["list repositories of {host}", "'repositories' as"]),
], ids=["tags-as-a-json-list", "catalog-as-a-json-list", "tags-as-a-string", "tags-as-numbers", "catalog-as-an-object"])
def test_a_listing_of_the_wrong_shape_is_one_line_naming_registry_and_request(liar, workdir, command, path, body, needles):
    liar.answer(path, json_answer(body))
    r = cli(*command, "-r", liar.host, "--plain-http")
    one_error_line(r, *(n.format(host=liar.host) for n in needles))
    assert r.stdout == ""


@pytest.mark.parametrize("layer, needles", [
    ({"mediaType": FILE_MEDIA_TYPE, "digest": LAYER_DIGEST, "size": "lots", "annotations": {ANNOTATION_TITLE: "f"}},
     ["layers[0].size is 'lots'", "not a size in bytes"]),
    ({"mediaType": FILE_MEDIA_TYPE, "digest": 12, "size": 1, "annotations": {ANNOTATION_TITLE: "f"}},
     ["layers[0].digest is 12"]),
    ({"mediaType": FILE_MEDIA_TYPE, "digest": LAYER_DIGEST, "size": 1, "annotations": {ANNOTATION_TITLE: ["f"]}},
     ["layers[0].annotations['org.opencontainers.image.title'] is ['f']", "not a string"]),
    ("a layer", ["layers[0] is 'a layer'", "not a descriptor"]),
], ids=["size-lots", "digest-a-number", "title-a-list", "layer-a-string"])
def test_a_layer_with_fields_of_the_wrong_type_is_one_line_naming_the_field(liar, workdir, layer, needles):
    liar.answer("/v2/x/y/manifests/1", manifest_with(layer))
    (workdir / "out").mkdir()
    r = cli("pull", "x/y:1", "-r", liar.host, "--plain-http", "-o", workdir / "out")
    one_error_line(r, f"pull {liar.host}/x/y:1", *needles)
    assert list((workdir / "out").iterdir()) == []
    assert not [p for _, p in liar.seen if "/blobs/" in p], "nothing is downloaded for a malformed manifest"


def test_a_token_service_answering_html_is_one_line_naming_the_service_and_the_registry(liar, workdir):
    token_service = LyingRegistry().start()
    try:
        realm = token_service.url("/token")
        token_service.answer("/token", Answer(b"<html><body>Sign in</body></html>", headers={"Content-Type": "text/html"}))
        liar.answer("/v2/x/y/tags/list", Answer(b"", status=401, headers={
            "Www-Authenticate": f'Bearer realm="{realm}",service="fake",scope="repository:x/y:pull"'}))
        r = cli("tags", "x/y", "-r", liar.host, "--plain-http")
    finally:
        token_service.stop()
    one_error_line(r, f"list tags of {liar.host}/x/y", f"token service {realm}", f"registry {liar.host}",
                   "not JSON (text/html)")
    assert ("GET", "/token?service=fake&scope=repository%3Ax%2Fy%3Apull") in token_service.seen


def test_a_manifest_over_4_mib_is_refused_while_it_streams(liar, workdir):
    """An endless manifest (64 MiB, chunked, no Content-Length) is cut off after 4 MiB, not read whole."""
    def endless():
        yield b'{"schemaVersion":2,"layers":['
        for _ in range(64):
            yield b" " * (1 << 20)
        yield b"]}"

    path = "/v2/x/y/manifests/1"
    liar.answer(path, Answer(endless, headers={"Content-Type": MANIFEST_MEDIA_TYPE}))
    (workdir / "out").mkdir()
    r = cli("pull", "x/y:1", "-r", liar.host, "--plain-http", "-o", workdir / "out")
    one_error_line(r, f"pull {liar.host}/x/y:1", "over the 4 MiB a manifest may have")
    # The client hung up after 4 MiB; what the kernel's socket buffers took on top is far below 64 MiB.
    deadline = time.monotonic() + 10
    while liar.sent.get(path, 0) < 4 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 4 << 20 <= liar.sent[path] < 32 << 20
    assert list((workdir / "out").iterdir()) == []


def test_a_manifest_declaring_more_than_4_mib_is_refused_unread(liar, workdir):
    path = "/v2/x/y/manifests/1"
    liar.answer(path, Answer(b" " * ((4 << 20) + 1), headers={"Content-Type": MANIFEST_MEDIA_TYPE}))
    r = cli("pull", "x/y:1", "-r", liar.host, "--plain-http", "-o", workdir / "out")
    one_error_line(r, f"pull {liar.host}/x/y:1", f"the manifest is {(4 << 20) + 1} bytes, over the 4 MiB")


@pytest.mark.parametrize("next_link, needle", [
    # the page by its path: through a cache the registry's address is the tunnel's local port
    ("</v2/x/y/tags/list?n=1000>; rel=\"next\"", "leads back to a page already read (/v2/x/y/tags/list?n=1000)"),
    ("<http://127.0.0.2:1/v2/x/y/tags/list?last=a>; rel=\"next\"", "leads to another host"),
])
def test_a_next_page_link_that_loops_or_leaves_the_registry_is_not_followed(liar, workdir, next_link, needle):
    liar.answer("/v2/x/y/tags/list", Answer(json.dumps({"name": "x/y", "tags": ["a"]}).encode(),
                                            headers={"Content-Type": "application/json", "Link": next_link}))
    r = cli("tags", "x/y", "-r", liar.host, "--plain-http")
    one_error_line(r, f"list tags of {liar.host}/x/y", needle)
    assert sum(1 for _, path in liar.seen if "/tags/list" in path) == 1
