"""The command examples of README.md and docs/*.md, as a reader would copy them, so tests can run them
as written: shell blocks (```sh, ```console, ```bash, ```shell), Python blocks (```python), and
untagged or indented blocks that begin with a command (`kubectl …`, `python …`, `with kubectl_oras…`).
A shell block gives one example per command (lines joined at a trailing backslash; comment-only
lines and a console block's output left out); a Python block is one example.

Which test runs each example, or why none can, is said in one table, ``WHERE`` below: the
extraction is total, and tests/unit/test_docs_examples.py fails on an example the table does not
name (with the line to add) and on an entry whose example has gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = ("sh", "console", "bash", "shell")
COMMAND_WORDS = ("kubectl", "python", "python3", "bash", "sh", "docker", "pip", "nice", "buildah", "oras", "$")
PYTHON_STARTS = ("import ", "from ", "with kubectl_oras", "kubectl_oras.")

# Where each example runs. The key is (the doc, the example as `Example.key` gives it: a command
# without its trailing comment, a Python block's first line).
LOOPBACK = "tests/cli/test_docs_examples.py"  # tier 1: the command line against a registry process on loopback
LOCAL_CLUSTER = "tests/e2e/test_docs_commands.py"  # tier 3: the tests' own local cluster, one module
PYTHON_API = "tests/cli/test_python_api.py"  # tier 1: python-api.md's example, with what it prints checked

WHERE: dict[tuple[str, str], str] = {
    ("README.md", "kubectl oras create-cache --wait -n lab"): LOCAL_CLUSTER,
    ("README.md", "kubectl create job hwloc -n lab --image=busybox --dry-run=client -o yaml -- sh -c "
                  "'mkdir -p /tmp/analysis && nproc > /tmp/analysis/cpus.txt' | kubectl oras annotate -f - "
                  "--output metric/hwloc:iter-0 --output-path /tmp/analysis | kubectl create -n lab -f -"): LOCAL_CLUSTER,
    ("README.md", "kubectl wait --for=condition=complete job/hwloc -n lab --timeout=5m"): LOCAL_CLUSTER,
    ("README.md", "kubectl oras pull metric/hwloc:iter-0 -o data -n lab"): LOCAL_CLUSTER,
    ("README.md", "bash scripts/demo.sh"):
        "not runnable here: the whole journey, local cluster included; tests/e2e/test_workflows_on_the_local_cluster.py "
        "runs it on the tests' cluster by its context (test_the_readme_main_job_ends_with_the_results_on_disk)",
    ("README.md", "bash tests/run.sh"): "not runnable here: every tier, this test among them",
    ("README.md", "docker build -f Containerfile -t kubectl-oras:0.2.0 ."):
        "not runnable here: no docker on the test machines; the tests build the same Containerfile with buildah "
        "(localcluster/project_image.py)",
    ("README.md", "kubectl oras install"):
        "not runnable in the docs' module: the tier-3 modules run the controller as a process of this checkout; "
        "tests/e2e/test_workflows_on_the_local_cluster.py runs `kubectl oras install` (its `installed` fixture)",
    ("README.md", "kubectl oras create-cache oras -n lab --wait"): LOCAL_CLUSTER,
    ("README.md", "kubectl oras status -n lab"): LOCAL_CLUSTER,
    ("README.md", "kubectl krew install oras"): "not runnable here: the plugin is not in the krew index yet",
    ("README.md", "bash scripts/release.sh"):
        "not runnable here: a frozen bundle takes minutes to build; tests/packaging/release.py builds it the same way",
    ("README.md", "kubectl krew install --manifest=dist/oras.yaml --archive=dist/kubectl-oras_v0.2.0_linux_amd64.tar.gz"):
        "not runnable here: needs the release build; tests/e2e/test_cache_commands.py and "
        "tests/packaging/test_krew_release.py install it with the real krew",
    ("README.md", "kubectl oras --help"): LOOPBACK,
    ("README.md", "pip install -e ."):
        "not runnable here: it would install into this machine's Python; the tests run the checkout by PYTHONPATH",
    ("README.md", "kubectl oras push metric/hwloc:iter-0 hwloc.xml results/ -r localhost:5000 --plain-http -a iteration=0"):
        LOOPBACK,
    ("README.md", "kubectl oras pull metric/hwloc:iter-0 -o out/ -r localhost:5000 --plain-http"): LOOPBACK,
    ("README.md", "kubectl oras pull metric/hwloc:iter-0 -o xml/ -r localhost:5000 --plain-http --include '*.xml'"):
        LOOPBACK,
    ("README.md", "kubectl oras pull metric/hwloc:iter-0 -o layers/ -r localhost:5000 --plain-http --no-unpack"):
        LOOPBACK,
    ("README.md", "kubectl oras tags metric/hwloc -r localhost:5000 --plain-http -o json"): LOOPBACK,
    ("README.md", "kubectl oras ls -r localhost:5000 --plain-http"): LOOPBACK,
    ("README.md", "kubectl oras gc -r localhost:5000 --plain-http --keep-last 5 --max-age 720h --keep 'final-*' --dry-run"):
        LOOPBACK,
    ("README.md", "kubectl oras rm metric/hwloc:iter-0 -r localhost:5000 --plain-http"): LOOPBACK,
    ("docs/cli.md", "kubectl oras push metric/hwloc:iter-0 analysis/ -n lab"): LOCAL_CLUSTER,
    ("docs/cli.md", "kubectl oras pull metric/hwloc:iter-0 -o data -n lab"): LOCAL_CLUSTER,
    ("docs/cli.md", "kubectl oras tags metric/hwloc --cache results -n lab -o json"): LOCAL_CLUSTER,
    ("docs/cli.md", "kubectl oras gc --keep-last 5 --dry-run -n lab"): LOCAL_CLUSTER,
    ("docs/controller.md", "python -m controller [run] [--listen 0.0.0.0:8443] [--health 0.0.0.0:8080] "
                           "[--kubeconfig FILE]"):
        "not runnable: a synopsis (brackets mark what may be left out), the process a Deployment runs; "
        "tests/e2e start it as `python -m controller` (controller_process)",
    ("docs/controller.md", "[--lease-seconds 15 --renew-seconds 10 --retry-seconds 2] [--workers 4]"):
        "not runnable: the synopsis' second line",
    ("docs/controller.md", "[--watch-seconds 300] [--drain-seconds 3] [--log-format json]"):
        "not runnable: the synopsis' third line",
    ("docs/controller.md", "python -m controller webhook ..."): "not runnable: a synopsis (`...`: the same flags)",
    ("docs/orascache.md", "kubectl apply -k manifests/"):
        "not runnable in the docs' module: it installs the controller, which the tier-3 modules run as a process; "
        "`kubectl oras install` applies the same manifests (tests/e2e/test_workflows_on_the_local_cluster.py)",
    ("docs/orascache.md", "kubectl apply -n lab -f my-cache.yaml"): LOCAL_CLUSTER,
    ("docs/orascache.md", "kubectl get oc -n lab"): LOCAL_CLUSTER,
    ("docs/orascache.md", "kubectl describe oc oras -n lab"): LOCAL_CLUSTER,
    ("docs/local-cluster.md", "XDG_STATE_HOME=/tmp/b bash scripts/local-cluster.sh up --name korasb --pods 10.248 "
                              "--links 10.249 --services 10.98.0.0/24"):
        "not runnable in the docs' module: a second local cluster takes the whole machine's networks for minutes; "
        "tests/e2e/test_local_cluster_commands.py brings one up beside another on networks of their own",
    ("docs/packaging.md", "nice -n 19 bash scripts/release.sh --write-krew-yaml"):
        "not runnable here: a frozen bundle takes minutes to build and this one rewrites krew.yaml; "
        "tests/packaging/release.py runs scripts/release.sh",
    ("docs/python-api.md", "import os"): PYTHON_API,
    ("docs/python-api.md", "import kubectl_oras"): LOCAL_CLUSTER,
    ("docs/snakemake.md", "pip install ./integrations/snakemake"):
        "not runnable here: it would install into this machine's Python; scripts/setup.sh --tests builds the same "
        "directory as its wheel and installs it",
    ("docs/snakemake.md", "snakemake --default-storage-provider oras --default-storage-prefix oras://my-workflow "
                          "--storage-oras-cache oras --storage-oras-namespace lab -j 4"):
        "not runnable here: a cache in a cluster; tests/cli/test_snakemake_workflow.py runs the same command with "
        "--storage-oras-registry against a registry on loopback",
    ("docs/snakemake.md", "snakemake --executor kubernetes --kubernetes-namespace lab --container-image "
                          "kubectl-oras-snakemake:VERSION --default-storage-provider oras --default-storage-prefix "
                          "oras://my-workflow --storage-oras-cache oras --storage-oras-namespace lab -j 4"):
        "not runnable here: a cache and the job image in a cluster; tests/packaging/test_snakemake_job_image.py runs "
        "one of its jobs in the image as the executor's command line does",
    ("docs/snakemake.md", 'kubectl oras push my-workflow/data:Alpha_20Reads.txt "Alpha Reads.txt" -n lab'):
        "not runnable here: a cache in a cluster; tests/cli/test_snakemake_workflow.py pushes the example's inputs "
        "under these names (put_inputs)",
    ("docs/snakemake.md", "kubectl oras pull my-workflow/merged:All_20Counts_2bTotal.tsv -o data -n lab"):
        "not runnable here: a cache in a cluster and a finished run; tests/cli/test_snakemake_workflow.py pulls a "
        "run's files the same way",
    ("docs/retention.md", 'kubectl annotate orascache/oras cache.converged-computing.github.io/run-retention="$(date +%s)" '
                          "--overwrite"): LOCAL_CLUSTER,
}

@dataclass(frozen=True)
class Example:
    doc: str  # relative to the repository: README.md, docs/cli.md
    line: int  # where it starts, for messages
    block: int  # the line its block starts at: a block's commands run in order, in one directory
    language: str  # "sh" or "python"
    text: str  # as a shell or Python runs it

    @property
    def key(self) -> str:
        if self.language == "python":
            return self.text.splitlines()[0].strip()
        return " ".join(_without_comment(self.text).split())

    def where(self) -> str | None:
        return WHERE.get((self.doc, self.key))


def _without_comment(command: str) -> str:
    return re.sub(r"\s+#\s.*$", "", command, flags=re.M).rstrip()


def _kind(tag: str, first_line: str) -> str | None:
    """"sh", "python", or None for a block that is not a command example (YAML, JSON, a message)."""
    if tag in SHELL_LANGUAGES:
        return "sh"
    if tag == "python":
        return "python"
    if tag:
        return None
    stripped = first_line.strip()
    if stripped.startswith(PYTHON_STARTS):
        return "python"
    words = stripped.split()
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):  # VAR=value before the command
        words.pop(0)
    if words and words[0] in COMMAND_WORDS:
        return "sh"
    return None


def _blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """(first line's number, language tag, lines) of each fenced block and each indented block that
    follows a blank line outside a list."""
    lines = text.splitlines()
    out: list[tuple[int, str, list[str]]] = []
    i = 0
    in_list = False
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^ {0,3}```\s*(\S*)", line)
        if fence:
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("```"):
                j += 1
            out.append((i + 2, fence.group(1), lines[i + 1:j]))
            i = j + 1
            continue
        if re.match(r"^\s*([-*+]|\d+\.)\s", line):
            in_list = True
        elif line and not line.startswith(" "):
            in_list = False
        if line.startswith("    ") and not in_list and i > 0 and not lines[i - 1].strip():
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            block = [b[4:] for b in lines[i:j]]
            while block and not block[-1].strip():
                block.pop()
            out.append((i + 1, "", block))
            i = j
            continue
        i += 1
    return out


def _commands(first: int, lines: list[str], console: bool) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = first
    for n, line in enumerate(lines, first):
        if not pending:
            if console:
                if not line.startswith("$ "):
                    continue  # the command's output
                line = line[2:]
            if not _without_comment(line).strip() or line.lstrip().startswith("#"):
                continue
            start = n
        pending.append(line)
        if line.rstrip().endswith("\\"):
            pending[-1] = line.rstrip()[:-1]
            continue
        out.append((start, " ".join(p.strip() for p in pending)))
        pending = []
    if pending:
        out.append((start, " ".join(p.strip() for p in pending)))
    return out


def examples_of(doc: str, text: str) -> list[Example]:
    found: list[Example] = []
    for first, tag, lines in _blocks(text):
        kind = _kind(tag, next((x for x in lines if x.strip() and not x.strip().startswith("#")), ""))
        if kind == "python":
            found.append(Example(doc, first, first, "python", "\n".join(lines) + "\n"))
        elif kind == "sh":
            found.extend(Example(doc, n, first, "sh", command) for n, command in _commands(first, lines, tag == "console"))
    return found


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def all_examples() -> list[Example]:
    return [e for path in documents() for e in examples_of(str(path.relative_to(REPO)), path.read_text())]


def examples_run_by(test: str) -> list[Example]:
    """The examples ``WHERE`` gives to ``test``, in the docs' order."""
    return [e for e in all_examples() if e.where() == test]


def substitute(text: str, mapping: dict[str, str]) -> str:
    """Each placeholder (a whole word) replaced by the test's value."""
    for placeholder, value in mapping.items():
        text = re.sub(rf"(?<![\w/.-]){re.escape(placeholder)}(?![\w.-])", value, text)
    return text
