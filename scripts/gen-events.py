#!/usr/bin/env python3
"""Writes synthetic LLM usage events as NDJSON, for trying tokentra out and for load tests.

Python 3 standard library only. The same arguments (with --end) give byte-identical output.

  scripts/gen-events.py --events 1000 > events.ndjson                     # last 7 days, ending now
  scripts/gen-events.py --events 100000 --days 30 --seed 7 --out ev.ndjson
  scripts/gen-events.py --events 500 --batch 100                          # {"events":[...]} per line, for HTTP
  scripts/gen-events.py --events 10 --end 2026-11-20T00:00:00Z            # a fixed window

Each line is one event with the fields of the SDK contract (request_id, timestamp, provider, model,
input/output/cached tokens, exact decimal costs, latency, feature/team/project/environment tags,
sometimes an error). About --dup-rate of the lines repeat an earlier event unchanged (a client
retry: tokentra stores it once and counts it as a duplicate). Timestamps fall in the --days days
before --end (default: now, so `tokentra ingest` and HTTP accept them: they are inside the default
30-day raw retention and never in the future).
"""
import argparse
import datetime as dt
import json
import random
import sys
import uuid
from decimal import Decimal

# provider, model, USD per 1K input, output, cached-read tokens, relative share, median latency ms.
MODELS = [
    ("openai", "gpt-4o", "0.0025", "0.01", "0.00125", 30, 900),
    ("openai", "gpt-4o-mini", "0.00015", "0.0006", "0.000075", 30, 450),
    ("anthropic", "claude-3-5-sonnet-20241022", "0.003", "0.015", "0.0003", 20, 1300),
    ("anthropic", "claude-3-5-haiku-20241022", "0.0008", "0.004", "0.00008", 10, 600),
    ("google", "gemini-2.0-flash", "0.0001", "0.0004", "0.000025", 10, 380),
]
FEATURES = ["chat", "search", "summarize", "classify", "extract"]
TEAMS = ["growth", "platform", "support"]
PROJECTS = ["web", "mobile", "internal"]
ENVIRONMENTS = ["production", "production", "production", "staging"]
ERRORS = [("rate_limit_exceeded", "RateLimitError"), ("timeout", "TimeoutError"), ("server_error", "APIError")]
TEN_DIGITS = Decimal("0.0000000001")


def iso(ms):
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_end(text):
    if text is None:
        return int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp() * 1000)


def cost(tokens, per_1k):
    return (Decimal(tokens) * Decimal(per_1k) / 1000).quantize(TEN_DIGITS)


def make_event(rng, end_ms, days, org):
    provider, model, pin, pout, pcached, _, latency = rng.choices(MODELS, weights=[m[5] for m in MODELS])[0]
    # Skewed towards recent hours, never after `end_ms - 1 s`.
    age_ms = int(rng.random() ** 1.3 * (days * 86_400_000 - 1000)) + 1000
    ts = end_ms - age_ms
    input_tokens = max(1, int(rng.lognormvariate(6.5, 0.8)))
    output_tokens = max(1, int(rng.lognormvariate(5.3, 0.7)))
    cached = int(input_tokens * rng.choice([0, 0, 0, 0.3, 0.6])) if provider != "google" else 0
    input_tokens -= cached
    e = {
        "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": iso(ts),
        "provider": provider,
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": cached,
        "total_tokens": input_tokens + output_tokens + cached,
    }
    ci, co, cc = cost(input_tokens, pin), cost(output_tokens, pout), cost(cached, pcached)
    # Costs are JSON numbers with their exact decimal digits (tokentra parses the text, never a double).
    e["input_cost"] = ci
    e["output_cost"] = co
    e["cached_cost"] = cc
    e["total_cost"] = ci + co + cc
    e["latency_ms"] = max(20, int(rng.lognormvariate(0, 0.5) * latency))
    e["feature"] = rng.choice(FEATURES)
    e["team"] = rng.choice(TEAMS)
    e["project"] = rng.choice(PROJECTS)
    e["environment"] = rng.choice(ENVIRONMENTS)
    if cached:
        e["was_cached"] = False
    if rng.random() < 0.02:
        code, kind = rng.choice(ERRORS)
        e["is_error"] = True
        e["error_code"] = code
        e["error_type"] = kind
    if org:
        e["org_id"] = org
    return e


def dumps(event):
    parts = []
    for k, v in event.items():
        if isinstance(v, Decimal):
            text = format(v.normalize(), "f") if v != 0 else "0"
        else:
            text = json.dumps(v, ensure_ascii=False)
        parts.append(json.dumps(k) + ":" + text)
    return "{" + ",".join(parts) + "}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1000, help="lines to write, duplicates included (default 1000)")
    ap.add_argument("--days", type=int, default=7, help="spread over this many days before --end (default 7)")
    ap.add_argument("--end", help="end of the window, ISO-8601 (default: now)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--org", help="add org_id to every event (HTTP ingest takes the key's org instead)")
    ap.add_argument("--dup-rate", type=float, default=0.01, help="share of lines that retry an earlier event (default 0.01)")
    ap.add_argument("--batch", type=int, default=0, help='write {"events":[...]} lines of this many events (default: one event per line)')
    ap.add_argument("--out", help="output file (default stdout)")
    args = ap.parse_args()
    if args.events < 0 or args.days < 1 or not 0 <= args.dup_rate < 1 or args.batch < 0:
        ap.error("--events >= 0, --days >= 1, 0 <= --dup-rate < 1, --batch >= 0")
    rng = random.Random(args.seed)
    end_ms = parse_end(args.end)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    recent = []
    pending = []
    for _ in range(args.events):
        if recent and rng.random() < args.dup_rate:
            line = rng.choice(recent)
        else:
            line = dumps(make_event(rng, end_ms, args.days, args.org))
            recent.append(line)
            if len(recent) > 1000:
                recent.pop(0)
        if args.batch:
            pending.append(line)
            if len(pending) == args.batch:
                out.write('{"events":[' + ",".join(pending) + "]}\n")
                pending = []
        else:
            out.write(line + "\n")
    if pending:
        out.write('{"events":[' + ",".join(pending) + "]}\n")
    if args.out:
        out.close()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # `| head`
        sys.stderr.close()
