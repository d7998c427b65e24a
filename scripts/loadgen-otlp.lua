-- wrk script: POST /v1/traces (application/x-protobuf) with the template body of
-- scripts/otlp-bench-body.py; every request replaces the 8-byte '@@@@@@@@' trace id prefix of
-- each span with <2 hex: thread><6 hex: counter>, so every span is new.
-- Env: TOKENTRA_KEY (required), OTLP_BODY (the template file).
local key = os.getenv("TOKENTRA_KEY")
local f = assert(io.open(os.getenv("OTLP_BODY"), "rb"))
local template = f:read("*a")
f:close()
local chunks = {}
local pos = 1
while true do
  local s, e = template:find("@@@@@@@@", pos, true)
  if not s then break end
  chunks[#chunks + 1] = template:sub(pos, s - 1)
  pos = e + 1
end
local tail = template:sub(pos)
local thread_id = 0
local counter = 0

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.headers["Content-Type"] = "application/x-protobuf"
end

request = function()
  counter = counter + 1
  local tag = string.format("%02x%06x", id or 0, counter)
  local parts = {}
  for i = 1, #chunks do
    parts[2 * i - 1] = chunks[i]
    parts[2 * i] = tag
  end
  parts[#parts + 1] = tail
  return wrk.format(nil, "/v1/traces", nil, table.concat(parts))
end

local errors = 0
response = function(status, headers, body)
  if status ~= 200 or #body > 0 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("status " .. status .. ": " .. body:sub(1, 300) .. "\n") end
  end
end
