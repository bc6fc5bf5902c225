-- wrk script: GET READ_PATH (an API read), with post.lua's RESULT line.
wrk.method = "GET"
wrk.path = os.getenv("READ_PATH") or "/api/v1/events?limit=100"

-- The RESULT line (bench/result.lua), from the folder this script is in.
local bench_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(bench_dir .. "result.lua")
