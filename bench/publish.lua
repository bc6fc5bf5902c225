-- wrk script: publish a new package revision with every request.
-- BODY_FILE is a revision body (bench/publish.json) whose "@REVISION@" is
-- replaced by "<run>-<thread>-<n>": unique per package within a run, and
-- <run> (PUBLISH_RUN, default the start time in seconds) keeps reruns
-- against the same data directory unique too. So herald must store every
-- request (201): a duplicate would get 200 and a conflict 409.
-- BENCH_PATH: the publish path (default /api/v1/packages/bench/app/revisions).
-- Prints the same RESULT line as post.lua.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local template = f:read("*a")
f:close()
local at = assert(template:find("@REVISION@", 1, true), "BODY_FILE has no @REVISION@")
local head, tail = template:sub(1, at - 1), template:sub(at + #"@REVISION@")
local path = os.getenv("BENCH_PATH") or "/api/v1/packages/bench/app/revisions"
local headers = {["Content-Type"] = "application/json"}

-- setup runs in wrk's main Lua state; it hands each thread's own state
-- its number and the run's name as the globals tid and run_id.
local nthreads = 0
local run = os.getenv("PUBLISH_RUN") or tostring(os.time())
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  thread:set("run_id", run)
end

local n = 0
function request()
  n = n + 1
  return wrk.format("POST", path, headers, head .. run_id .. "-" .. tid .. "-" .. n .. tail)
end

-- The RESULT line (bench/result.lua), from the folder this script is in.
local bench_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(bench_dir .. "result.lua")
