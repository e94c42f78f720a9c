"""`kubectl oras inject -f`: the webhook's mutation applied to manifests on disk."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kubectl_oras.cli import app
from kubectl_oras.pods.annotations import PREFIX

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "predecessor"
MARK = {PREFIX + "output-uri": "metric/out:v1", PREFIX + "output-path": "out.txt"}
POD_SPEC = {"containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi > out.txt"]}]}


def run(tmp_path, docs, *args):
    path = tmp_path / "in.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return invoke(path, *args)


def invoke(path, *args):
    result = CliRunner().invoke(app, ["inject", "-f", str(path), "--image", "img:1", *args])
    # CliRunner catches an unexpected exception (a traceback for a user) and reports exit code 1.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_error_line(result):
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def containers_of(template):
    return [c["name"] for c in template["spec"].get("initContainers", [])]


def test_every_workload_kind_gets_its_pod_template_injected(tmp_path):
    docs = [
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": MARK},
         "spec": {"template": {"spec": POD_SPEC}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"template": {"metadata": {"annotations": MARK}, "spec": POD_SPEC}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "annotations": MARK},
         "spec": {"jobTemplate": {"spec": {"template": {"spec": POD_SPEC}}}}},
        {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": {"name": "js", "annotations": MARK},
         "spec": {"replicatedJobs": [{"name": "w", "template": {"spec": {"template": {"spec": POD_SPEC}}}}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": MARK}, "spec": POD_SPEC},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "untouched"}, "data": {"a": "b"}},
    ]
    result = run(tmp_path, docs, "-n", "lab")
    assert result.exit_code == 0, result.stderr
    job, deploy, cron, jobset, pod, cm = yaml.safe_load_all(result.stdout)
    for template in (job["spec"]["template"], deploy["spec"]["template"],
                     cron["spec"]["jobTemplate"]["spec"]["template"],
                     jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"], pod):
        assert containers_of(template) == ["oras-push"]  # the sidecar pulls under every restart policy
        assert template["spec"]["initContainers"][0]["image"] == "img:1"
        assert '"registry":"oras.lab.svc:5000"' in template["spec"]["initContainers"][0]["env"][0]["value"]
    assert cm == docs[-1]


def test_predecessor_examples_inject_unchanged(tmp_path):
    for path in sorted(FIXTURES.glob("*.yaml")):
        result = CliRunner().invoke(app, ["inject", "-f", str(path)])
        assert result.exit_code == 0, (path.name, result.stderr)
        for doc in yaml.safe_load_all(result.stdout):
            marked = any(k.startswith(PREFIX) for k in (doc.get("metadata", {}).get("annotations") or {}))
            if doc["kind"] in ("Pod", "Job") and marked:
                template = doc if doc["kind"] == "Pod" else doc["spec"]["template"]
                # the sidecar pulls under every restart policy: no oras-pull
                assert containers_of(template) == ["oras-push"], path.name


def test_bad_annotations_name_the_object_and_the_key(tmp_path):
    bad = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": {PREFIX + "output-uri": "Bad:x"}},
           "spec": {"template": {"spec": POD_SPEC}}}
    result = run(tmp_path, [bad])
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("error: Job/j (spec.template):") and PREFIX + "output-uri" in line


def test_deprecated_keys_warn_on_stderr(tmp_path):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {**MARK, PREFIX + "oras-container": "x"}},
           "spec": POD_SPEC}
    result = run(tmp_path, [pod])
    assert result.exit_code == 0
    assert "warning: Pod/p: annotation " + PREFIX + "oras-container is ignored" in result.stderr


def test_unreadable_and_invalid_files_are_one_line(tmp_path):
    missing = CliRunner().invoke(app, ["inject", "-f", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "nope.yaml" in missing.stderr
    (tmp_path / "bad.yaml").write_text("a: [unclosed")
    bad = CliRunner().invoke(app, ["inject", "-f", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 1 and "not valid YAML" in bad.stderr


def test_a_list_from_kubectl_get_has_each_item_injected(tmp_path):
    """`kubectl get -o yaml` prints kind: List; its items were passed through un-injected, exit 0."""
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "lab", "annotations": MARK},
         "spec": {"template": {"spec": POD_SPEC}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": MARK}, "spec": POD_SPEC},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "untouched"}, "data": {"a": "b"}},
    ]}
    result = run(tmp_path, [listing], "-n", "other")
    assert result.exit_code == 0, result.stderr
    (out,) = yaml.safe_load_all(result.stdout)
    job, pod, cm = out["items"]
    for template, namespace in ((job["spec"]["template"], "lab"), (pod, "other")):
        assert containers_of(template) == ["oras-push"]
        assert f'"registry":"oras.{namespace}.svc:5000"' in template["spec"]["initContainers"][0]["env"][0]["value"]
    assert cm == listing["items"][2]


def test_errors_in_a_list_item_name_the_item(tmp_path):
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {PREFIX + "nope": "x"}},
           "spec": POD_SPEC}
    line = one_error_line(run(tmp_path, [{"apiVersion": "v1", "kind": "List", "items": [bad]}]))
    assert line.startswith("error: List (document 1) items[0]: Pod/p: annotation " + PREFIX + "nope is not known")


def test_an_unquoted_yaml_boolean_is_taken_as_the_string(tmp_path):
    (tmp_path / "in.yaml").write_text(f"""\
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    {PREFIX}output-uri: metric/out:v1
    {PREFIX}output-path: out.txt
    {PREFIX}debug: true
    {PREFIX}unpack: no
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "echo hi > out.txt"]
""")
    result = invoke(tmp_path / "in.yaml")
    assert result.exit_code == 0, result.stderr
    (pod,) = yaml.safe_load_all(result.stdout)
    # written back as strings, which Kubernetes accepts (it refuses a boolean annotation)
    assert pod["metadata"]["annotations"][PREFIX + "debug"] == "true"
    assert pod["metadata"]["annotations"][PREFIX + "unpack"] == "false"
    step = pod["spec"]["initContainers"][0]["env"][0]["value"]
    assert '"debug":true' in step and '"unpack":false' in step


@pytest.mark.parametrize(
    "doc, culprit",
    [
        ({"apiVersion": "v1", "kind": "Pod", "metadata": "oops", "spec": POD_SPEC},
         "error: Pod (document 1): metadata must be a map, not 'oops'"),
        ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": MARK},
          "spec": {"template": {"metadata": "oops", "spec": POD_SPEC}}},
         "error: Job/j (spec.template): metadata must be a map, not 'oops'"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {**MARK, PREFIX + "input-uri": 5}},
          "spec": POD_SPEC},
         f"error: Pod/p: annotation {PREFIX}input-uri: the value must be a string, not 5; quote it in YAML"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": MARK},
          "spec": {"containers": [{"name": "main", "image": "python", "command": "python3 train.py"}]}},
         "error: Pod/p: container 'main': command must be a list of strings, not the string 'python3 train.py' "
         '(write command: ["python3", "train.py"])'),
        ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": MARK},
          "spec": {"template": {"spec": {"containers": {"name": "main"}}}}},
         "error: Job/j (spec.template): spec.containers must be a list"),
        ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": MARK}, "spec": {}},
         "error: Job/j is annotated for the cache"),
        ({"apiVersion": "v1", "kind": "List", "items": {"a": 1}}, "error: List (document 1): items must be a list"),
        (["a", "list"], "error: document 1 is not a Kubernetes object"),
        ({"metadata": {"name": "no-kind"}}, "error: document 1 is not a Kubernetes object"),
    ],
)
def test_a_malformed_manifest_is_one_line_naming_the_document_and_field(tmp_path, doc, culprit):
    assert one_error_line(run(tmp_path, [doc])).startswith(culprit)


def test_a_manifest_nested_too_deeply_is_one_line(tmp_path):
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 3000 + "]" * 3000 + "\n")
    assert "nested too deeply" in one_error_line(invoke(tmp_path / "deep.yaml"))


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"kind: Pod\nmetadata: {name: \xff}\n")
    assert "not UTF-8" in one_error_line(invoke(tmp_path / "bin.yaml"))
