import pytest

from kubectl_oras.pods.annotations import (
    PREFIX,
    ArtifactName,
    InvalidAnnotations,
    StepSettings,
    is_marked,
    merge_owner,
    ours,
    parse_settings,
    render,
)


def a(**kw):
    return {k.replace("_", "-") if not k.startswith("input_uri_") else k.replace("input_uri_", "input-uri_"): v
            for k, v in kw.items()}


def test_defaults_match_the_predecessor():
    s = parse_settings({"output-uri": "dinosaur/hello-world:pancakes", "output-path": "pancakes.txt"})
    assert s.cache == "oras" and s.unpack is True and s.debug is False and s.push_on_failure == "never"
    assert s.output == ArtifactName("dinosaur/hello-world", "pancakes")


def test_input_uri_and_numbered_inputs_keep_their_order():
    s = parse_settings({"input-uri": "a/x:1", "input-uri_10": "c/z:3", "input-uri_2": "b/y:2"})
    assert [str(i) for i in s.inputs] == ["a/x:1", "b/y:2", "c/z:3"]


def test_a_reference_without_tag_means_latest_and_digests_are_allowed_for_inputs():
    s = parse_settings({"input-uri": "a/x", "input-uri_1": "b/y@sha256:" + "a" * 64})
    assert s.inputs[0].tag == "latest" and s.inputs[1].digest == "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "values, culprit",
    [
        ({"outptu-uri": "a/b:c"}, PREFIX + "outptu-uri is not known"),
        ({"output-uri": "", "output-path": "x"}, PREFIX + "output-uri is empty"),
        ({"output-uri": "Bad/Name:x", "output-path": "x"}, "repository 'Bad/Name'"),
        ({"output-uri": "a/b:bad tag", "output-path": "x"}, "tag 'bad tag'"),
        ({"output-uri": "ghcr.io/a/b:c", "output-path": "x"}, "names a registry host"),
        ({"output-uri": "a/b@sha256:" + "1" * 64, "output-path": "x"}, "not a digest"),
        ({"output-uri": "a/b:c"}, PREFIX + "output-uri needs " + PREFIX + "output-path"),
        ({"output-path": "x"}, PREFIX + "output-path needs " + PREFIX + "output-uri"),
        ({"unpack": "yes"}, PREFIX + "unpack: 'yes' is not"),
        ({"oras-cache": "Not_A_Name"}, PREFIX + "oras-cache"),
        ({"push-on-failure": "always"}, PREFIX + "push-on-failure"),
        ({"registry": "http://a b"}, PREFIX + "registry"),
        ({"input-uri_1": "a/b@sha256:zz"}, PREFIX + "input-uri_1"),
        ({"input-wait": "soon"}, PREFIX + "input-wait: "),
        ({"input-wait": "0s"}, PREFIX + "input-wait: must be more than zero"),
        ({"input-uri": "a/b:run-*", "input-count": "three"},
         PREFIX + "input-count: 'three' is not a number of tags from 1 to 256"),
        ({"input-uri": "a/b:run-*", "input-count": "0"}, PREFIX + "input-count: '0' is not a number of tags"),
        ({"input-uri": "a/b:run-*", "input-count": "257"}, PREFIX + "input-count: '257' is not a number of tags"),
        ({"input-uri": "a/b:run-*", "input-count": "-1"}, PREFIX + "input-count: '-1' is not a number of tags"),
        ({"input-uri": "a/b:v1", "input-uri_2": "a/c:run-*", "input-count_2": "3", "input-count": "3"},
         f"annotation {PREFIX}input-count: annotation {PREFIX}input-uri (a/b:v1) is not a tag pattern"),
        ({"input-uri": "a/b:run-*", "input-count_1": "3"},
         f"annotation {PREFIX}input-count_1 counts the tags of annotation {PREFIX}input-uri_1, which is not given"),
        ({"input-uri": "a/b:run-*", "input-count_x": "3"}, PREFIX + "input-count_x is not known"),
    ],
)
def test_invalid_annotations_name_the_culprit(values, culprit):
    with pytest.raises(InvalidAnnotations) as e:
        parse_settings(values)
    assert culprit in str(e.value)


def test_downloading_keys_are_accepted_with_a_warning():
    s = parse_settings({"oras-container": "ghcr.io/x", "entrypoint": "https://x/e.sh", "oras-entrypoint": "y"})
    assert len(s.warnings) == 3 and all("is ignored" in w for w in s.warnings)


def test_the_pods_own_values_win_over_its_owners():
    owner = {PREFIX + "output-uri": "a/b:job", PREFIX + "output-path": "out", "unrelated": "x"}
    pod = {PREFIX + "output-uri": "a/b:pod"}
    assert merge_owner(pod, owner) == {"output-uri": "a/b:pod", "output-path": "out"}
    assert is_marked(owner) and not is_marked({"unrelated": "x"})


def test_input_wait_and_counts_are_read_for_their_pattern_inputs_and_rendered_back():
    values = {"input-uri": "a/b:run-*", "input-uri_2": "c/d:v1", "input-uri_3": "e/f:part-?", "input-count_3": "4",
              "input-wait": "10m"}
    settings = parse_settings(values)
    assert settings.input_wait == 600 and settings.input_counts == (("input-uri_3", 4),)
    assert ours(render(settings)) == {  # the inputs numbered again from 0, each count beside its input
        "input-uri": "a/b:run-*", "input-uri_1": "c/d:v1", "input-uri_2": "e/f:part-?", "input-count_2": "4",
        "input-wait": "600s"}
    assert parse_settings({"input-uri": "a/b:run-*"}).input_counts == ()  # no count: every match, as before


def test_render_round_trips():
    s = StepSettings(cache="c1", inputs=(ArtifactName("a/x", "1"), ArtifactName("b/y", "2")),
                     output=ArtifactName("o/p", "t"), output_path="out", output_pipe="log.txt",
                     container="main", unpack=False, debug=True, push_on_failure="failed-tag", input_overwrite=True)
    assert parse_settings(ours(render(s))) == s


@pytest.mark.parametrize("timeout, written", [(3_600_000.0, "3600000s"), (0.5, "0.5s"), (1e-7, "0.0000001s"),
                                              (86400 * 365 * 10, "315360000s")])
def test_a_timeout_renders_as_digits_a_duration_can_be(timeout, written):
    """``{:g}`` wrote 3600000 s as 3.6e+06s, which the annotation's own reading refuses."""
    rendered = ours(render(StepSettings(timeout=timeout)))
    assert rendered["timeout"] == written
    assert parse_settings(rendered).timeout == timeout


@pytest.mark.parametrize("value", ["a_b.c/d:v1", "x:y/z", "localhost/x", "a.b/c"])
def test_a_first_component_that_reads_as_a_host_is_refused_as_one(value):
    with pytest.raises(InvalidAnnotations, match="names a registry host"):
        parse_settings({"input-uri": value})


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "values, culprit",
    [
        ({"input-uri": "a/b:c\n"}, PREFIX + "input-uri: "),
        ({"input-uri_1": f"a/b\n@{DIGEST}"}, PREFIX + "input-uri_1: "),
        ({"input-uri_2": f"a/b@{DIGEST}\n"}, PREFIX + "input-uri_2: "),
        ({"output-uri": "a/b:c\n", "output-path": "x"}, PREFIX + "output-uri: "),
        ({"oras-cache": "oras\n"}, PREFIX + "oras-cache: "),
        ({"registry": "registry.example:5000\n"}, PREFIX + "registry: "),
        ({"oras-env": "credentials\n"}, PREFIX + "oras-env: "),
        ({"input-uri_1\n": "a/b:c"}, PREFIX + "input-uri_1\n is not known"),
    ],
)
def test_a_value_with_a_trailing_newline_is_refused_naming_the_key(values, culprit):
    """A YAML `|` block ends its value with a newline; `$` in a regex matches before it."""
    with pytest.raises(InvalidAnnotations) as e:
        parse_settings(values)
    assert culprit in str(e.value)


@pytest.mark.parametrize(
    "annotations, culprit",
    [
        ([PREFIX + "debug"], "metadata.annotations must be a map of strings, not [\""),
        ({PREFIX + "debug": True}, f"annotation {PREFIX}debug: the value must be a string, not true"),
        ({PREFIX + "input-uri_1": 5}, f"annotation {PREFIX}input-uri_1: the value must be a string, not 5; quote it"),
        ({PREFIX + "input-uri": ["a/b:c"]}, f"annotation {PREFIX}input-uri: the value must be a string"),
    ],
)
def test_annotations_that_are_not_strings_are_refused_naming_the_key(annotations, culprit):
    with pytest.raises(InvalidAnnotations) as e:
        ours(annotations)
    assert culprit in str(e.value)


def test_keys_that_are_not_ours_or_not_strings_are_ignored():
    assert ours({1: "x", None: "y", "other/debug": True, PREFIX + "debug": "true"}) == {"debug": "true"}


@pytest.mark.parametrize("output_path, output_pipe", [
    ("results/log.txt", "log.txt"),
    ("a/log.txt", "b/log.txt/"),
    ("/data/out/log.txt", "/var/log.txt"),
])
def test_two_outputs_that_would_share_a_name_are_denied_naming_both(output_path, output_pipe):
    with pytest.raises(InvalidAnnotations) as e:
        parse_settings({"output-uri": "a/b:c", "output-path": output_path, "output-pipe": output_pipe})
    message = str(e.value)
    assert PREFIX + "output-path" in message and PREFIX + "output-pipe" in message
    assert output_path in message and output_pipe in message and "'log.txt'" in message


@pytest.mark.parametrize("output_path, output_pipe", [
    ("pancakes.txt", "pancakes.txt"),  # the predecessor's example: one file, pushed once
    ("./log.txt", "log.txt"),
    ("results", "log.txt"),
    (".", "log.txt"),  # the working directory, under its own name
    ("/work/log.txt", "log.txt"),  # may be the same file: only the step's working directory tells
])
def test_outputs_that_are_one_file_or_have_distinct_names_are_accepted(output_path, output_pipe):
    s = parse_settings({"output-uri": "a/b:c", "output-path": output_path, "output-pipe": output_pipe})
    assert (s.output_path, s.output_pipe) == (output_path, output_pipe)


def test_input_overwrite_is_a_boolean_off_by_default():
    assert parse_settings({}).input_overwrite is False
    assert parse_settings({"input-overwrite": "true"}).input_overwrite is True
    with pytest.raises(InvalidAnnotations, match=PREFIX + "input-overwrite"):
        parse_settings({"input-overwrite": "always"})
