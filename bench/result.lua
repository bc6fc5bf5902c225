-- The RESULT line every wrk script of bench/ prints (bench/lib.sh's load
-- reads it): returns wrk's done callback. A script takes it with
--   done = dofile(bench_dir .. "result.lua")
return function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d non200=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.errors.status))
end
