"""An app as users write it, run in a fresh interpreter by ``test_llm_sdk_safety.py``.

It imports ``openai`` first, then the SDK, sends its spans through the real background
exporter, and calls the fake OpenAI server given as ``argv[1]`` several times through every
wrapped operation. It prints one JSON line: the answers, the modules imported by the
exporter's thread (must be none: an import there races the app's imports), and the counts.
"""

from __future__ import annotations

import json
import sys
import threading
from importlib.abc import MetaPathFinder
from typing import Any

import openai

from mlwarden.sdk.llm import OTLPExporter, configure, sdk_errors, wrap_openai

imports_on_exporter_thread: list[str] = []


class _Spy(MetaPathFinder):
    """Notes every module imported (for the first time) on the exporter's thread."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if threading.current_thread().name == "mlwarden-spans":
            imports_on_exporter_thread.append(name)
        return None


def main(base_url: str, sink: str) -> None:
    sys.meta_path.insert(0, _Spy())
    exporter = configure(exporter=OTLPExporter(sink, retries=0, interval=0.01))
    client = wrap_openai(openai.OpenAI(base_url=base_url, api_key="test", max_retries=0))
    messages = [{"role": "user", "content": "Capital of France?"}]
    answers: list[Any] = []
    for _ in range(5):  # the defect showed on the second call
        r = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        answers.append(r.choices[0].message.content)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
    answers.append("".join(c.choices[0].delta.content or "" for c in stream))
    slow = client.with_options(timeout=30.0)
    answers.append(slow.chat.completions.create(model="gpt-4o-mini", messages=messages).id)
    e = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    answers.append([round(x, 3) for x in e.data[1].embedding])
    expected_spans = 8  # 5 + the stream + with_options + embeddings
    if hasattr(client, "responses"):  # the Responses API came with openai 1.66
        answers.append(client.responses.create(model="gpt-4o-mini", input="hi").output_text)
        expected_spans += 1
    exporter.flush(30)
    print(
        json.dumps(
            {
                "openai": openai.__version__,
                "answers": answers,
                "imports_on_exporter_thread": imports_on_exporter_thread,
                "spans": exporter.sent_ + exporter.dropped_,  # type: ignore[attr-defined]
                "expected_spans": expected_spans,
                "sdk_errors": sdk_errors(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
