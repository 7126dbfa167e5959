-- wrk script: every request carries the next bearer token of a file (one a line), and the run
-- ends with one machine-readable line. One token in the file is the "single" scenario, many are
-- the "pool". Requests are prebuilt: wrk's own Lua cost stays out of the measurement.
--   wrk ... -s wrk-tokens.lua http://127.0.0.1:PORT/path -- tokens.txt
local requests, count, at = {}, 0, 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      count = count + 1
      requests[count] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. line })
    end
  end
  assert(count > 0, "no tokens in " .. tostring(args[1]))
  -- Threads start at different places so that they do not send the same token at once.
  at = math.random(0, count - 1)
end

function request()
  at = at % count + 1
  return requests[at]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format("BENCH rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
