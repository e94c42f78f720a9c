"""`kubectl oras inject -f`: the webhook's mutation applied to manifests on disk."""

from pathlib import Path

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
    result = CliRunner().invoke(app, ["inject", "-f", str(path), "--image", "img:1", *args])
    assert "Traceback" not in result.output + result.stderr
    return result


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
        assert containers_of(template) == ["oras-push", "oras-pull"]
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
                assert containers_of(template) == ["oras-push", "oras-pull"], path.name


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
