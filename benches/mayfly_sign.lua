-- wrk script: POST /1.0/sign replaying pre-minted bodies (one JSON per line in $BODIES).
-- Every token is single use, so each wrk thread takes its own slice of the file and never
-- repeats a line; a thread that runs out stops sending (counted in POOL_EXHAUSTED).
local file = os.getenv("BODIES")
local threads, nthreads = {}, tonumber(os.getenv("WRK_THREADS") or "2")
local counter = 0
function setup(thread)
  thread:set("id", counter); counter = counter + 1; table.insert(threads, thread)
end
-- errors/exhausted are globals so that done() can read them with thread:get
local bodies, idx = {}, 0
errors, exhausted = 0, 0
function init(args)
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == id then table.insert(bodies, line) end
    n = n + 1
  end
end
wrk.method = "POST"
wrk.path = "/1.0/sign"
wrk.headers["Content-Type"] = "application/json"
function request()
  idx = idx + 1
  if idx > #bodies then exhausted = exhausted + 1; idx = 1 end
  return wrk.format(nil, nil, nil, bodies[idx])
end
function response(status, headers, body)
  if status ~= 201 and status ~= 200 then errors = errors + 1 end
end
function done(summary, latency, requests)
  local bad, ex = 0, 0
  for _, t in ipairs(threads) do bad = bad + (t:get("errors") or 0); ex = ex + (t:get("exhausted") or 0) end
  io.write(string.format("BAD_RESPONSES %d\nPOOL_EXHAUSTED %d\n", bad, ex))
  io.write(string.format("LAT_P50_MS %.3f\nLAT_P90_MS %.3f\nLAT_P99_MS %.3f\nRPS %.1f\nNON2XX_OR_ERR %d\n",
    latency:percentile(50)/1000, latency:percentile(90)/1000, latency:percentile(99)/1000,
    summary.requests/(summary.duration/1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
