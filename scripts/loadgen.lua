-- wrk script: POST /api/v1/sdk/ingest with BATCH events per request, every event a new request_id.
-- Env: TOKENTRA_KEY (required), BATCH (default 100), GZIP unused.
local key = os.getenv("TOKENTRA_KEY")
local batch = tonumber(os.getenv("BATCH") or "100")
local counter = 0
local thread_id = 0
local ts = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 60)
local models = { {"openai","gpt-4o"}, {"anthropic","claude-3-5-sonnet-20241022"}, {"google","gemini-2.0-flash"} }
local features = { "chat", "search", "summarize", "agent" }
local teams = { "platform", "growth", "research" }
local prefix = {}
for i = 1, batch do
  local m = models[(i % #models) + 1]
  prefix[i] = string.format(
    '{"timestamp":"%s","provider":"%s","model":"%s","input_tokens":%d,"output_tokens":%d,"cached_tokens":%d,' ..
    '"input_cost":0.%010d,"output_cost":0.%010d,"latency_ms":%d,"feature":"%s","team":"%s","environment":"production","request_id":"',
    ts, m[1], m[2], 100 + i * 7, 20 + i * 3, (i % 4) * 50, 2500 + i * 13, 9000 + i * 17, 200 + i * 11,
    features[(i % #features) + 1], teams[(i % #teams) + 1])
end

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  -- `id` is set by setup() in this thread's Lua state.
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.headers["Content-Type"] = "application/json"
end

-- request_id = <8 hex: counter>-<4 hex: thread>-4<3 hex: run>-8000-<12 hex: index>: unique per event,
-- built by concatenation only (the client must stay cheaper than the server).
-- RUN (0-4095, set by loadgen.sh) keeps runs against the same data directory from resending ids.
local run = tonumber(os.getenv("RUN") or "0") % 4096
local suffix = {}
for i = 1, batch do suffix[i] = string.format("-4%03x-8000-%012x\"}", run, i) end

request = function()
  counter = counter + 1
  local head = string.format("%08x-%04x", counter, id or 0)
  local parts = {}
  for i = 1, batch do
    parts[i] = prefix[i] .. head .. suffix[i]
  end
  return wrk.format(nil, "/api/v1/sdk/ingest", nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end

local errors = 0
response = function(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("status " .. status .. ": " .. body:sub(1, 300) .. "\n") end
  end
end
