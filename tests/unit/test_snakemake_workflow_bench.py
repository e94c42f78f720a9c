"""bench/snakemake_workflow.py's reading of a Snakemake run: the jobs its log says it ran (as the
Kubernetes executor's run with the oras storage writes it), the DAG's levels the floor runs in,
which pod ran which job, where the time went, and the overhead per job."""

import pytest

from bench.snakemake_workflow import Summary, dag_levels, phases, pod_target, snakemake_jobs, summary

P = "oras://bench-0"


def block(stamp: str, rule: str, jobid: int, inputs: list[str], outputs: list[str], wildcards: str = "",
          local: bool = False) -> str:
    lines = [f"[Mon Dec  7 16:{stamp} 2026]", f"{'local' if local else ''}rule {rule}:"]
    if inputs:
        lines.append("    input: " + ", ".join(f"{P}/{i} (retrieve from storage)" for i in inputs))
    if outputs:
        lines.append("    output: " + ", ".join(f"{P}/{o} (send to storage)" for o in outputs))
    lines.append(f"    jobid: {jobid}")
    lines.append(f"    reason: Missing output files: {', '.join(outputs)}")
    if wildcards:
        lines.append(f"    wildcards: {wildcards}")
    lines.append("    resources: tmpdir=<TBD>")
    lines.append("Get status with: kubectl describe job snakejob-0e6f")
    return "\n".join(lines) + "\n"


def finished(stamp: str, jobid: int, rule: str) -> str:
    return f"[Mon Dec  7 16:{stamp} 2026]\nFinished jobid: {jobid} (Rule: {rule})\n1 of 10 steps (10%) done\n"


# The example workflow's run, in the order the executor's run logs it (jobs 3 and 5 submitted
# before 8 and 9 though all four are of one level; a level's jobs need not start together).
EXAMPLE = "".join([
    "Building DAG of jobs...\nUsing shell: /usr/bin/bash\nJob stats:\njob       count\n------  -------\n"
    "clean         2\ntotal        10\n\nSelect jobs to execute...\nExecute 2 jobs...\n",
    block("00:10", "clean", 4, ["data/Alpha Reads.txt"], ["clean/Alpha.txt"], "sample=Alpha"),
    block("00:10", "clean", 6, ["data/beta Reads.txt"], ["clean/beta.txt"], "sample=beta"),
    finished("00:30", 4, "clean"),
    block("00:30", "count", 3, ["clean/Alpha.txt"], ["counts/Alpha.count"], "sample=Alpha"),
    block("00:30", "shout", 8, ["clean/Alpha.txt"], ["upper/Alpha Upper.txt"], "sample=Alpha"),
    finished("00:31", 6, "clean"),
    block("00:31", "count", 5, ["clean/beta.txt"], ["counts/beta.count"], "sample=beta"),
    block("00:31", "shout", 9, ["clean/beta.txt"], ["upper/beta Upper.txt"], "sample=beta"),
    finished("00:50", 3, "clean"), finished("00:50", 8, "shout"),
    finished("00:51", 5, "count"), finished("00:51", 9, "shout"),
    block("00:51", "merge", 2, ["counts/Alpha.count", "counts/beta.count"], ["merged/All Counts+Total.tsv"]),
    block("00:51", "plots", 7, ["upper/Alpha Upper.txt", "upper/beta Upper.txt"], ["plots/Per Sample"]),
    finished("01:10", 2, "merge"), finished("01:11", 7, "plots"),
    block("01:11", "report", 1, ["merged/All Counts+Total.tsv", "plots/Per Sample"], ["report/Summary Report.txt"]),
    finished("01:30", 1, "report"),
    block("01:30", "all", 0, ["report/Summary Report.txt"], [], local=True),
    finished("01:30", 0, "all"),
    "Complete log(s): .snakemake/log/x.snakemake.log\n",
])


def test_the_log_says_each_job_its_files_without_storage_notes_and_when_it_was_submitted_and_seen_finished():
    jobs = {job.jobid: job for job in snakemake_jobs(EXAMPLE)}
    assert sorted(jobs) == list(range(10))
    merge = jobs[2]
    assert (merge.rule, merge.local, merge.wildcards) == ("merge", False, "")
    assert merge.inputs == (f"{P}/counts/Alpha.count", f"{P}/counts/beta.count")
    assert merge.outputs == (f"{P}/merged/All Counts+Total.tsv",)
    assert merge.finished - merge.submitted == 19
    assert jobs[9].submitted - jobs[4].submitted == 21
    assert jobs[0].local and jobs[0].outputs == ()
    assert jobs[5].target == "count:sample=beta" and jobs[1].target == "report:"


def test_the_levels_are_the_example_dag_whatever_order_the_jobs_were_submitted_in():
    levels = dag_levels(snakemake_jobs(EXAMPLE))
    assert [sorted(job.jobid for job in level) for level in levels] == [[4, 6], [3, 5, 8, 9], [2, 7], [1], [0]]
    assert [sorted(job.jobid for job in level) for level in dag_levels(reversed(snakemake_jobs(EXAMPLE)))] == \
        [[4, 6], [3, 5, 8, 9], [2, 7], [1], [0]]


def test_jobs_that_make_each_other_s_inputs_are_refused_naming_them():
    log = block("00:10", "a", 1, ["y"], ["x"]) + block("00:10", "b", 2, ["x"], ["y"])
    with pytest.raises(SystemExit, match=r"the jobs \(1, 2\) make each other's inputs"):
        dag_levels(snakemake_jobs(log))


def test_a_rule_with_no_jobid_says_the_log_format_changed():
    with pytest.raises(SystemExit, match="rule clean with no jobid"):
        snakemake_jobs("[Mon Dec  7 16:00:10 2026]\nrule clean:\n    input: a\n")


def pod(target: str, created: str, started: str, ended: str) -> dict:
    return {"metadata": {"name": "snakejob-1-x", "creationTimestamp": f"2026-12-07T16:{created}Z"},
            "spec": {"containers": [{"command": ["/bin/sh"], "args": [
                "-c", f"python -m snakemake --target-jobs '{target}' --allowed-rules {target.split(':')[0]} --cores 1"]}]},
            "status": {"containerStatuses": [{"state": {"terminated": {
                "startedAt": f"2026-12-07T16:{started}Z", "finishedAt": f"2026-12-07T16:{ended}Z"}}}]}}


def test_each_pod_is_matched_to_its_job_and_the_time_split_at_the_clocks_both_keep():
    jobs = [j for j in snakemake_jobs(EXAMPLE) if j.jobid in (2, 0)]  # merge, and the local target rule
    assert pod_target(pod("merge:", "00:52", "00:55", "01:05")) == "merge:"
    start = jobs[0].submitted - 4
    got = phases(jobs, [pod("merge:", "00:52", "00:55", "01:05")], start, jobs[0].finished + 30)
    assert got == {"Snakemake's start -> its first submit": [4], "submit -> pod created": [1],
                   "pod created -> container started": [3], "container ran": [10],
                   "container ended -> Snakemake saw it": [5], "last seen -> Snakemake's end": [30]}


def test_a_job_no_pod_ran_is_named():
    jobs = [j for j in snakemake_jobs(EXAMPLE) if j.jobid == 5]
    with pytest.raises(SystemExit, match=r"no pod ran the job count:sample=beta \(jobid 5\)"):
        phases(jobs, [pod("merge:", "00:52", "00:55", "01:05")], 0, 0)


def test_the_overhead_per_job_is_the_difference_of_the_medians_over_the_jobs():
    got = summary([60.0, 50.0, 70.0], [12.0, 10.0, 11.0], 9)
    assert got == Summary(workflow=60.0, floor=11.0, jobs=9)
    assert got.per_job == pytest.approx(49 / 9) and got.ratio == pytest.approx(60 / 11)
    with pytest.raises(SystemExit, match="no round ran"):
        summary([], [], 9)
