"""OpenInference's OpenAI instrumentation; session and user from ``using_attributes``."""

from __future__ import annotations

import openai
from _common import OPENAI_URL, SESSION, USER, providers, report, run_openai_app
from openinference.instrumentation import using_attributes
from openinference.instrumentation.openai import OpenAIInstrumentor

tp, tee, _, _ = providers("interop-openinference-openai")
OpenAIInstrumentor().instrument(tracer_provider=tp)
client = openai.OpenAI(base_url=OPENAI_URL, api_key="test", max_retries=0)
seen = run_openai_app(
    openai, client, session=lambda: using_attributes(session_id=SESSION, user_id=USER)
)
tp.shutdown()
report(tee, seen=seen, versions={"openai": openai.__version__})
