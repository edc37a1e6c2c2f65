"""The official ``opentelemetry-instrumentation-openai-v2``, content captured as events (logs).

Its spans carry no user or session: the app sets them on a parent span of the conversation.
"""

from __future__ import annotations

import os

os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "EVENT_ONLY"

import openai  # noqa: E402
from _common import (  # noqa: E402
    OPENAI_URL,
    SESSION,
    USER,
    Metrics,
    providers,
    report,
    run_openai_app,
)
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402

tp, tee, lp, log_tee = providers("interop-openai-v2", logs=True)
metrics = Metrics("interop-openai-v2")
OpenAIInstrumentor().instrument(
    tracer_provider=tp, logger_provider=lp, meter_provider=metrics.provider
)
client = openai.OpenAI(base_url=OPENAI_URL, api_key="test", max_retries=0)
tracer = tp.get_tracer("interop-app")


def conversation():  # type: ignore[no-untyped-def]
    return tracer.start_as_current_span(
        "conversation", attributes={"session.id": SESSION, "user.id": USER}
    )


seen = run_openai_app(openai, client, session=conversation)
tp.shutdown()
lp.shutdown()
report(tee, log_tee, seen=seen, metrics=metrics.finish(),
       versions={"openai": openai.__version__})  # fmt: skip
