"""Writes an OTLP/HTTP protobuf ExportTraceServiceRequest of N GenAI chat spans, encoded by the real
OpenTelemetry Python SDK (run with .venv-test/bin/python, see scripts/test-python-env.sh), as a
template for scripts/loadgen-otlp.lua: the first 8 bytes of every trace id are the placeholder
'@@@@@@@@', which the load generator replaces per request so every span is new.

Usage: otlp-bench-body.py OUT [SPANS=512]
"""
import sys
import time

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 512


class Ids(IdGenerator):
    def __init__(self):
        self.i = 0

    def generate_trace_id(self):
        self.i += 1
        return int.from_bytes(b"@" * 8 + self.i.to_bytes(8, "big"), "big")

    def generate_span_id(self):
        return self.i + 1


memory = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "bench-api", "deployment.environment.name": "production"}),
                          id_generator=Ids())
provider.add_span_processor(SimpleSpanProcessor(memory))
tracer = provider.get_tracer("bench")
models = [("openai", "gpt-4o"), ("anthropic", "claude-3-5-sonnet-20241022"), ("google", "gemini-2.0-flash")]
t = (int(time.time()) - 60) * 1_000_000_000
for i in range(n):
    provider_name, model = models[i % len(models)]
    s = tracer.start_span("chat " + model, kind=SpanKind.CLIENT, start_time=t + i * 1000, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider_name,
        "gen_ai.request.model": model, "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": 100 + i * 7, "gen_ai.usage.output_tokens": 20 + i * 3,
        "gen_ai.usage.cache_read.input_tokens": (i % 4) * 10,
        "gen_ai.response.id": "chatcmpl-%08d" % i, "gen_ai.response.finish_reasons": ("stop",),
        "server.address": "api.example.com",
        "tokentra.feature": ["chat", "search", "summarize", "agent"][i % 4],
        "tokentra.team": ["platform", "growth", "research"][i % 3],
    })
    s.end(end_time=t + i * 1000 + (200 + i) * 1_000_000)
provider.shutdown()
body = encode_spans(memory.get_finished_spans()).SerializeToString()
assert body.count(b"@" * 8) == n, body.count(b"@" * 8)
open(out, "wb").write(body)
print("%d spans, %d bytes" % (n, len(body)))
