-- wrk script for CDS Hooks calls: each request is a POST with its own pre-signed JWT (a jti is
-- accepted once), read from the file named by WRK_CDS_REQUESTS ("token<TAB>body" per line).
-- Lines are split between wrk's threads (WRK_CDS_THREADS) so that no two threads send the same
-- token. The summary line ("WRKJSON {...}") is wrk_report.lua's `done` (named by WRK_REPORT).
dofile(os.getenv("WRK_REPORT"))
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
