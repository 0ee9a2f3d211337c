-- wrk script: POST the file named by WRK_BODY with Content-Type WRK_CTYPE; the Authorization
-- header and the summary line ("WRKJSON {...}") are wrk_report.lua's (named by WRK_REPORT).
dofile(os.getenv("WRK_REPORT"))
local report_init = init

init = function(args)
  report_init(args)
  local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = os.getenv("WRK_CTYPE") or "application/json"
end
