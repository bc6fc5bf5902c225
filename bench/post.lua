-- wrk script: POST one GoCD stage-status body (BODY_FILE) to PATH.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.path = os.getenv("BENCH_PATH") or "/gocd/notification/stage-status"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Go-Extension-Version"] = "4.0"

-- The RESULT line (bench/result.lua), from the folder this script is in.
local bench_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(bench_dir .. "result.lua")
