-- wrk script for CDS Hooks calls: each request is a POST with its own pre-signed JWT (a jti is
-- accepted once), read from the file named by WRK_CDS_REQUESTS ("token<TAB>body" per line).
-- Lines are split between wrk's threads (WRK_CDS_THREADS) so that no two threads send the same
-- token. Prints the same summary line as wrk_report.lua ("WRKJSON {...}").
local items = {}
local counter = 0
local nthreads = 0

setup = function(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
end

init = function(args)
  local total = tonumber(os.getenv("WRK_CDS_THREADS"))
  local i = 0
  for line in io.lines(os.getenv("WRK_CDS_REQUESTS")) do
    if i % total == tid then
      local tab = line:find("\t", 1, true)
      items[#items + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}
    end
    i = i + 1
  end
end

request = function()
  counter = counter + 1
  local item = items[((counter - 1) % #items) + 1]  -- past the end: replays, refused (counted)
  return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. item[1],
                                  ["Content-Type"] = "application/json"}, item[2])
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
