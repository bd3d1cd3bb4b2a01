-- wrk's side of bench/gateway_overhead.py --load-generator wrk: POST the body in WRK_BODY, and
-- at the end print one JSON line with the request count, the errors by kind and every latency
-- wrk recorded, as [microseconds, count] pairs (so the benchmark merges rounds exactly).
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer bench"
wrk.body = os.getenv("WRK_BODY")

function done(summary, latency, requests)
  local pairs = {}
  for i = 1, #latency do
    local value, count = latency(i)
    pairs[#pairs + 1] = string.format("[%d,%d]", value, count)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":[%s]}\n',
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout, table.concat(pairs, ",")
  ))
end
