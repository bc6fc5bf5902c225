-- wrk script: GET READ_PATH (an API read), with post.lua's RESULT line.
wrk.method = "GET"
wrk.path = os.getenv("READ_PATH") or "/api/v1/events?limit=100"

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d non200=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.errors.status))
end
