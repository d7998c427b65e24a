"""Emits GenAI spans with the real OpenTelemetry Python SDK, for tokentra's OTLP ingest tests.

Modes:
  protobuf  export with the real OTLPSpanExporter (endpoint and Authorization header from the
            standard OTEL_EXPORTER_OTLP_* environment variables); prints the export result.
  json      the same spans encoded by the SDK's OTLP encoder, turned into OTLP/JSON (hex ids,
            lowerCamelCase) and POSTed with Content-Type application/json; prints the status
            (with --out: written to that file instead).
  capture   export with the real OTLPSpanExporter to a loopback HTTP server in this process and
            write the exact request body it sent to --out (the committed fixture).

Span ids are fixed (--id-base) so the test knows each request id; times are --start-ns based.
"""
import argparse
import base64
import http.server
import json
import os
import sys
import threading
import urllib.request

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

MS = 1_000_000


class FixedIds(IdGenerator):
    """Trace ids base+1, base+2, ... (as 128-bit), span ids base*16+1, ... (as 64-bit)."""

    def __init__(self, base):
        self.base = base
        self.traces = 0
        self.spans = 0

    def generate_trace_id(self):
        self.traces += 1
        return 0x0AF7651916CD43DD8448EB211C800000 + self.base * 256 + self.traces

    def generate_span_id(self):
        self.spans += 1
        return 0x00F067AA0BA90000 + self.base * 256 + self.spans


def make_spans(id_base, start_ns):
    memory = InMemorySpanExporter()
    resource = Resource.create({
        "service.name": "checkout-api",
        "deployment.environment.name": "staging",
        "host.name": "web-7",
    })
    provider = TracerProvider(resource=resource, id_generator=FixedIds(id_base))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tokentra-test", "1.0")
    t = start_ns

    # 1. A chat call with cached input tokens (input_tokens INCLUDES the 200 cache reads).
    s = tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, start_time=t, attributes={
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.cache_read.input_tokens": 200,
        "gen_ai.usage.output_tokens": 300,
        "user.id": "user-17",
        "tokentra.feature": "search",
        "tokentra.team": "growth",
        "tokentra.cost_center": "cc-42",
    })
    s.end(end_time=t + 1234 * MS + 600_000)  # 1234.6 ms -> 1235

    # 2. An error span (span status ERROR + error.type).
    s = tracer.start_span("chat claude-3-5-haiku", kind=SpanKind.CLIENT, start_time=t + 1000 * MS, attributes={
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-5-haiku-20241022",
        "gen_ai.usage.input_tokens": 50,
        "gen_ai.usage.output_tokens": 0,
        "error.type": "overloaded_error",
    })
    s.set_status(Status(StatusCode.ERROR, "upstream overloaded"))
    s.end(end_time=t + 1000 * MS + 87 * MS)

    # 3. A streaming span, OpenLLMetry-style attribute names, TTFT in seconds; the response model
    #    is dated (priced through the request model).
    s = tracer.start_span("openai.chat", kind=SpanKind.CLIENT, start_time=t + 2000 * MS, attributes={
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.prompt_tokens": 800,
        "gen_ai.usage.completion_tokens": 150,
        "llm.usage.total_tokens": 950,
        "llm.is_streaming": True,
        "gen_ai.server.time_to_first_token": 0.25,
        "tokentra.project": "assistant",
    })
    s.end(end_time=t + 2000 * MS + 3000 * MS)

    # 4. An OpenLIT-style span with its own cost, cache writes and reasoning tokens.
    s = tracer.start_span("chat claude-sonnet-4", kind=SpanKind.CLIENT, start_time=t + 3000 * MS, attributes={
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-20250514",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.cache_read.input_tokens": 300,
        "gen_ai.usage.cache_creation.input_tokens": 100,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.reasoning.output_tokens": 40,
        "gen_ai.usage.cost": 0.0123,
        "enduser.id": "user-9",
    })
    s.end(end_time=t + 3000 * MS + 2 * MS)

    # 5. Not a GenAI span: skipped.
    s = tracer.start_span("GET /health", kind=SpanKind.SERVER, start_time=t, attributes={
        "http.request.method": "GET", "http.response.status_code": 200})
    s.end(end_time=t + 1 * MS)

    # 6. A tool execution: a GenAI span that is not a model call, skipped.
    s = tracer.start_span("execute_tool lookup", kind=SpanKind.INTERNAL, start_time=t, attributes={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"})
    s.end(end_time=t + 5 * MS)

    provider.shutdown()
    return memory.get_finished_spans()


def hex_ids(node):
    """OTLP/JSON: trace and span ids are hex, not the protobuf JSON mapping's base64."""
    if isinstance(node, dict):
        for k, v in list(node.items()):
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                node[k] = base64.b64decode(v).hex()
            else:
                hex_ids(v)
    elif isinstance(node, list):
        for v in node:
            hex_ids(v)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["protobuf", "json", "capture"])
    p.add_argument("--id-base", type=int, default=1)
    p.add_argument("--start-ns", type=int, required=True)
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--out")
    p.add_argument("--url", help="json mode: the /v1/traces URL")
    p.add_argument("--key", help="json mode: the API key")
    a = p.parse_args()
    spans = make_spans(a.id_base, a.start_ns)

    if a.mode == "json":
        from google.protobuf import json_format
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        doc = json_format.MessageToDict(encode_spans(spans))
        hex_ids(doc)
        body = json.dumps(doc).encode()
        if a.out:
            with open(a.out, "wb") as f:
                f.write(body)
            print("wrote %d bytes" % len(body))
            return
        req = urllib.request.Request(a.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": "Bearer " + a.key})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                print(json.dumps({"status": r.status, "body": r.read().decode()}))
        except urllib.error.HTTPError as e:
            print(json.dumps({"status": e.code, "body": e.read().decode()}))
        return

    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    compression = Compression.Gzip if a.gzip else Compression.NoCompression

    if a.mode == "protobuf":
        exporter = OTLPSpanExporter(compression=compression, timeout=10)  # endpoint + headers from OTEL_EXPORTER_OTLP_*
        result = exporter.export(spans)
        exporter.shutdown()
        print("SUCCESS" if result == SpanExportResult.SUCCESS else "FAILURE")
        sys.exit(0 if result == SpanExportResult.SUCCESS else 1)

    captured = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            captured["body"] = self.rfile.read(n)
            captured["content_type"] = self.headers.get("Content-Type")
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:%d/v1/traces" % server.server_port,
                                compression=compression, timeout=10)
    result = exporter.export(spans)
    server.shutdown()
    assert result == SpanExportResult.SUCCESS and captured["content_type"] == "application/x-protobuf", captured
    with open(a.out, "wb") as f:
        f.write(captured["body"])
    print("captured %d bytes" % len(captured["body"]))


if __name__ == "__main__":
    main()
