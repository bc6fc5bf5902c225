-- wrk script: POST the GoCD stage-status body (BODY_FILE) to PATH, each
-- request of another pipeline: the body's pipeline name becomes
-- "bench-<n>", n going round PIPELINES names (default 1000), each wrk
-- thread starting elsewhere. So the events spread over many stages'
-- history rows, as a GoCD server's do, instead of queueing on one.
-- Prints the same RESULT line as post.lua.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local template = f:read("*a")
f:close()
local at, stop = template:find('"name"%s*:%s*"[^"]*"')
assert(at, "BODY_FILE has no pipeline name")
local head, tail = template:sub(1, at - 1), template:sub(stop + 1)
local path = os.getenv("BENCH_PATH") or "/gocd/notification/stage-status"
local headers = {["Content-Type"] = "application/json", ["X-Go-Extension-Version"] = "4.0"}
local pipelines = tonumber(os.getenv("PIPELINES") or "1000")

local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

local n = 0
function request()
  n = n + 1
  local k = (n + (tid or 0) * 997) % pipelines
  return wrk.format("POST", path, headers, head .. '"name": "bench-' .. k .. '"' .. tail)
end

-- The RESULT line (bench/result.lua), from the folder this script is in.
local bench_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(bench_dir .. "result.lua")
