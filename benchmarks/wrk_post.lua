-- wrk script: POST the file named by WRK_BODY with Content-Type WRK_CTYPE (and the Authorization
-- header from WRK_AUTH), and print a machine-readable summary line ("WRKJSON {...}") when done.
init = function(args)
  local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = os.getenv("WRK_CTYPE") or "application/json"
  local auth = os.getenv("WRK_AUTH")
  if auth then wrk.headers["Authorization"] = auth end
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
