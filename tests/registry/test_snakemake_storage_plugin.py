"""The Snakemake plugin against a real registry with auth on: Snakemake's own test base for storage
plugins (files and directories, delete, inventory), and what a workflow relies on besides."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import time
from pathlib import Path

import pytest
from snakemake.io import IOCache
from snakemake_interface_storage_plugins.tests import TestStorageBase
from snakemake_storage_plugin_oras import StorageProvider, StorageProviderSettings

from tests.support.registries import KINDS, htpasswd_file, start_registry

USER, PASSWORD = "workflow", "Sn4kemake-secret"
_names = itertools.count()


@pytest.fixture(scope="module", params=KINDS)
def secured(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("secured")
    proc = start_registry(request.param, htpasswd=htpasswd_file(d, USER, PASSWORD))
    yield proc
    proc.stop()


def settings_for(host: str, *, password: str = PASSWORD) -> StorageProviderSettings:
    return StorageProviderSettings(registry=host, plain_http=True, username=USER, password=password)


def provider_for(host: str, tmp_path: Path, **kwargs) -> StorageProvider:
    return StorageProvider(local_prefix=tmp_path / "local", logger=logging.getLogger("test"),
                           settings=settings_for(host, **kwargs))


class TestSnakemakeStorageBase(TestStorageBase):
    __test__ = True
    files_only = False  # directory() outputs too
    delete = True

    @pytest.fixture(autouse=True)
    def _registry(self, secured):
        self.host = secured.host

    def get_storage_provider_cls(self):
        return StorageProvider

    def get_storage_provider_settings(self):
        return settings_for(self.host)

    def get_query(self, tmp_path) -> str:
        return f"oras://base-test/run {next(_names)}/Result File+1.v2.txt"

    def get_query_not_existing(self, tmp_path) -> str:
        return "oras://base-test/none/Not There.txt"


def test_a_file_round_trips_with_its_time_size_and_checksum(secured, tmp_path):
    obj = provider_for(secured.host, tmp_path).object("oras://wf/results/Sample A.txt")
    obj.local_path().parent.mkdir(parents=True)
    obj.local_path().write_text("ACGT\n")
    before = time.time()
    obj.store_object()
    assert obj.exists()
    assert before - 1 <= obj.mtime() <= time.time() + 1
    assert obj.size() == 5
    assert obj.checksum().startswith("sha256:")
    obj.local_path().unlink()
    obj.retrieve_object()
    assert obj.local_path().read_text() == "ACGT\n"
    assert [p.name for p in obj.local_path().parent.iterdir()] == ["Sample A.txt"]  # no staging left


def test_times_keep_sub_second_precision(secured, tmp_path):
    provider = provider_for(secured.host, tmp_path)
    first, second = provider.object("oras://wf/precise/a"), provider.object("oras://wf/precise/b")
    for obj in (first, second):
        obj.local_path().parent.mkdir(parents=True, exist_ok=True)
        obj.local_path().write_text("x")
        obj.store_object()
    assert first.mtime() < second.mtime()
    assert second.mtime() - first.mtime() < 1.0  # within the same second, still ordered


def test_one_inventory_answers_every_file_of_a_directory(secured, tmp_path):
    provider = provider_for(secured.host, tmp_path)
    names = ["A.txt", "b c.txt", "d+e.tsv"]
    for name in names:
        obj = provider.object(f"oras://wf/inventory/{name}")
        obj.local_path().parent.mkdir(parents=True, exist_ok=True)
        obj.local_path().write_text(name)
        obj.store_object()
    cache = IOCache(max_wait_time=10)
    asyncio.run(provider.object("oras://wf/inventory/A.txt").inventory(cache))
    for name in names:
        key = provider.object(f"oras://wf/inventory/{name}").cache_key()
        assert cache.exists_in_storage[key] is True
        assert cache.size[key] == len(name)
        assert cache.mtime[key].storage() > 0
        assert cache.checksum[key].startswith("sha256:")
    parent = provider.object("oras://wf/inventory/A.txt").get_inventory_parent()
    assert parent in cache.exists_in_storage.has_inventory  # an absent file of it is known absent


def test_a_directory_output_is_one_artifact(secured, tmp_path):
    obj = provider_for(secured.host, tmp_path).object("oras://wf/results/Plots")
    (obj.local_path() / "deep" / "er").mkdir(parents=True)
    (obj.local_path() / "deep" / "er" / "p 1.svg").write_text("<svg/>")
    obj.store_object()
    assert obj.size() == 0  # as Snakemake wants of a directory
    shutil.rmtree(obj.local_path())
    obj.retrieve_object()
    assert (obj.local_path() / "deep" / "er" / "p 1.svg").read_text() == "<svg/>"


def test_glob_lists_the_files_of_the_directory(secured, tmp_path):
    provider = provider_for(secured.host, tmp_path)
    for name in ("s1.txt", "S 2.txt"):
        obj = provider.object(f"oras://wf/glob/{name}")
        obj.local_path().parent.mkdir(parents=True, exist_ok=True)
        obj.local_path().write_text(name)
        obj.store_object()
    matches = provider.object("oras://wf/glob/{sample}.txt").list_candidate_matches()
    assert sorted(matches) == ["oras://wf/glob/S 2.txt", "oras://wf/glob/s1.txt"]
    assert list(provider.object("oras://wf/nothing-here/{sample}.txt").list_candidate_matches()) == []


def test_a_wrong_password_is_one_line_naming_the_file_and_registry(secured, tmp_path):
    from snakemake_interface_common.exceptions import WorkflowError

    obj = provider_for(secured.host, tmp_path, password="wrong").object("oras://wf/results/x.txt")
    with pytest.raises(WorkflowError) as caught:
        obj.exists()
    said = str(caught.value)
    assert "oras://wf/results/x.txt" in said and f"registry {secured.host}" in said and "401" in said
    assert "\n" not in said and "wrong" not in said


def test_a_failed_retrieve_leaves_nothing_locally(secured, tmp_path):
    from snakemake_interface_common.exceptions import WorkflowError

    obj = provider_for(secured.host, tmp_path).object("oras://wf/results/missing.txt")
    with pytest.raises(WorkflowError, match="oras://wf/results/missing.txt"):
        obj.retrieve_object()
    assert list(obj.local_path().parent.iterdir()) == []
