"""Fixtures of the LLM tests: one real server for the module, the labelled set, a fake OpenAI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
for p in (HERE, TESTS, TESTS.parent / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from fake_openai import FakeOpenAI, fake_openai  # noqa: E402

from mlwarden.sdk.llm import InMemoryExporter, configure  # noqa: E402
from serverproc import ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server (subprocess) shared by a module's tests; bodies over 1 MiB get 413."""
    srv = ServerProcess(tmp_path_factory.mktemp("llm") / "data", "--max-body-mb", "1").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    """A fake OpenAI server shared by a module's tests (a module may ask for its own)."""
    with fake_openai() as f:
        yield f


@pytest.fixture
def exporter() -> Iterator[InMemoryExporter]:
    """The SDK's spans kept in memory for one test, then a fresh exporter."""
    ex = InMemoryExporter()
    configure(exporter=ex)
    yield ex
    configure(exporter=InMemoryExporter())
