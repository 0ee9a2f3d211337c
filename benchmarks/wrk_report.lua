-- wrk script: cycle through the request paths listed (one per line) in the file named by
-- WRK_PATHS (default: the URL's path), send the Authorization header from WRK_AUTH if set, and
-- print a machine-readable summary line ("WRKJSON {...}") when done.
local paths = {}
local counter = 0

init = function(args)
  local file = os.getenv("WRK_PATHS")
  if file then
    for line in io.lines(file) do
      if #line > 0 then paths[#paths + 1] = line end
    end
  end
  local auth = os.getenv("WRK_AUTH")
  if auth then wrk.headers["Authorization"] = auth end
end

request = function()
  if #paths == 0 then return wrk.format(nil) end
  counter = counter + 1
  return wrk.format(nil, paths[(counter % #paths) + 1])
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
