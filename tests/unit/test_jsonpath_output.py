"""-o jsonpath=TEMPLATE (cli/jsonpath.py): kubectl's templates a script writes, and a clear refusal
of the parts not supported."""

from __future__ import annotations

import pytest

from kubectl_oras.cli.jsonpath import TemplateError, check, render

CACHES = [{"name": "oras", "namespace": "lab", "ready": True, "retention": {"keepLast": 3}},
          {"name": "big", "namespace": "ci", "ready": False}]


@pytest.mark.parametrize(("template", "data", "out"), [
    ("{.items[*].name}", CACHES, "oras big"),
    ("{.items[0].namespace}/{.items[0].name}", CACHES, "lab/oras"),
    ("{.items[-1].ready}", CACHES, "false"),
    ("{.items[0].retention}", CACHES, '{"keepLast": 3}'),
    ("{.items[*].retention.keepLast}", CACHES, "3"),
    ("{.items[0]['namespace']}", CACHES, "lab"),
    ("{.tags[*]}", {"repository": "metric/hwloc", "tags": ["iter-0", "iter-1"]}, "iter-0 iter-1"),
    ("{.client.version}{\"\\n\"}", {"client": {"version": "0.2.0"}}, "0.2.0\n"),
    ("{.client.*}", {"client": {"version": "0.2.0"}}, "0.2.0"),
    ("{@.client.version}", {"client": {"version": "0.2.0"}}, "0.2.0"),
    ("tags: {.tags[5]}{.missing.field}.", {"tags": []}, "tags: ."),  # missing: nothing, as kubectl by default
    ("{.}", {"a": 1}, '{"a": 1}'),
    ("{$.client.version}", {"client": {"version": "0.2.0"}}, "0.2.0"),  # kubectl's root, as JSONPath writes it
    ("{$}", {"a": 1}, '{"a": 1}'),
])
def test_a_template_prints_what_it_finds(template, data, out):
    assert render(check(template), data) == out


@pytest.mark.parametrize(("template", "named"), [
    ("{range .items[*]}{.name}{end}", "range is not supported"),
    ("{.items[?(@.ready==true)].name}", "filters [?()] not supported"),
    ("{.items[0:1]}", "slices [a:b] not supported"),
    ("{..name}", "recursive descent (..) is not supported"),
    ("{.items[*].name", "is not closed"),
    # a string JSON cannot read: a JSONDecodeError traceback once, after the command had acted
    ('{.name}{"\\q"}', '"\\q" is not a JSON string (Invalid \\escape'),
    ('{"\\u12"}', '"\\u12" is not a JSON string (Invalid \\uXXXX escape'),
])
def test_what_is_not_supported_is_refused_by_name(template, named):
    with pytest.raises(TemplateError) as refused:
        check(template)
    assert named in str(refused.value) and str(refused.value).startswith("-o jsonpath:")
