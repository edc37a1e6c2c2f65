"""OpenLLMetry through the Traceloop SDK (its OpenAI instrumentation only); session and user
are Traceloop association properties. With ``INTEROP_EVENTS=1`` messages go as events (OTLP
log records, ``use_attributes=False``) instead of span attributes."""

from __future__ import annotations

import os

os.environ["TRACELOOP_TELEMETRY"] = "false"
os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
EVENTS = os.environ.get("INTEROP_EVENTS") == "1"

import openai  # noqa: E402
from _common import (  # noqa: E402
    MLWARDEN_URL,
    OPENAI_URL,
    SESSION,
    USER,
    providers,
    report,
    run_openai_app,
    span_exporter,
)
from traceloop.sdk import Traceloop  # noqa: E402
from traceloop.sdk.instruments import Instruments  # noqa: E402

SERVICE = "interop-traceloop-events" if EVENTS else "interop-traceloop"
tee = span_exporter()
log_tee = None
if EVENTS:  # events go to the global logger provider: the app sets it
    from opentelemetry._logs import set_logger_provider

    _, _, lp, log_tee = providers(SERVICE, logs=True)
    set_logger_provider(lp)
Traceloop.init(
    app_name=SERVICE,
    api_endpoint=MLWARDEN_URL,  # never its cloud, whatever it would send there
    exporter=tee,
    use_attributes=not EVENTS,
    disable_batch=True,
    telemetry_enabled=False,
    instruments={Instruments.OPENAI},
)
client = openai.OpenAI(base_url=OPENAI_URL, api_key="test", max_retries=0)


def session():  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    @contextmanager
    def props():  # type: ignore[no-untyped-def]
        Traceloop.set_association_properties({"user_id": USER, "session_id": SESSION})
        yield
        Traceloop.set_association_properties({})

    return props()


seen = run_openai_app(openai, client, session=session)
report(tee, log_tee, seen=seen, versions={"openai": openai.__version__})
