-- wrk script: POST /1.0/sign, each request with its own pre-minted one-time token.
-- POOL = file with one JSON body per line (examples/bench_pool.rs). Threads take disjoint
-- lines so that no token is sent twice; a thread that runs out stops sending new tokens.
local pool = os.getenv("POOL")
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
local bodies, idx, errors = {}, 0, 0
function init(args)
  local n = tonumber(os.getenv("THREADS") or "2")
  local i = 0
  for line in io.lines(pool) do
    if i % n == id then bodies[#bodies + 1] = line end
    i = i + 1
  end
end
wrk.method = "POST"
wrk.path = "/1.0/sign"
wrk.headers["Content-Type"] = "application/json"
function request()
  idx = idx + 1
  if idx > #bodies then idx = 1 end -- exhausted: replays are refused (counted as errors)
  return wrk.format(nil, nil, nil, bodies[idx])
end
function response(status, headers, body)
  if status ~= 201 then errors = errors + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("errors") or 0) end
  io.write(string.format("BAD_RESPONSES %d\n", bad))
  io.write(string.format("LAT_P50_MS %.3f\nLAT_P90_MS %.3f\nLAT_P99_MS %.3f\nRPS %.1f\nNON2XX_OR_ERR %d\n",
    latency:percentile(50)/1000, latency:percentile(90)/1000, latency:percentile(99)/1000,
    summary.requests/(summary.duration/1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
