-- wrk script of the load test (bench/load.py): the mini-program's traffic mix, or the bare baseline.
--
--   wrk -t2 -cN -dDs -s bench/load.lua URL -- <dir> <threads> <mix>
--
-- <mix> is a comma-separated cycle of request kinds, e.g. "poll,poll,...,login,upload,order"; "root" alone
-- is the baseline (GET / of bench/bare_app.py). <dir> holds what bench/load.py prepared:
--   phones.tsv  token <TAB> job id <TAB> X-Forwarded-For   (one logged-in phone per line)
--   codes.tsv   login code <TAB> device id <TAB> X-Forwarded-For   (fresh wx.login codes, each used once)
--   upload.body, upload.boundary   the multipart body of POST /api/v1/uploads
-- Each thread takes every <threads>-th code, so no code is sent twice. When a thread runs out of codes it
-- sends a poll instead and counts it in "exhausted" (bench/load.py mints enough to make that rare).
-- At the end the script prints one BENCH_* line per fact: statuses (2xx is success), kinds sent,
-- latency percentiles (microseconds) and wrk's own counters.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function read_lines(path)
  local out = {}
  for line in io.lines(path) do
    if #line > 0 then table.insert(out, line) end
  end
  return out
end

local function fields(line)
  local out = {}
  for field in string.gmatch(line, "[^\t]+") do table.insert(out, field) end
  return out
end

function init(args)
  local dir, nthreads = args[1], tonumber(args[2])
  mix = {}
  for kind in string.gmatch(args[3], "[^,]+") do table.insert(mix, kind) end
  sent = {}
  ok, exhausted = 0, 0
  bad = {}
  n = tid
  if mix[1] == "root" then return end
  phones = {}
  for _, line in ipairs(read_lines(dir .. "/phones.tsv")) do table.insert(phones, fields(line)) end
  codes = {}
  local all = read_lines(dir .. "/codes.tsv")
  for i = tid + 1, #all, nthreads do table.insert(codes, fields(all[i])) end
  next_code = 1
  local f = io.open(dir .. "/upload.body", "rb")
  upload_body = f:read("*a")
  f:close()
  boundary = read_lines(dir .. "/upload.boundary")[1]
end

local function count(kind)
  sent[kind] = (sent[kind] or 0) + 1
end

function request()
  n = n + 1
  local kind = mix[(n % #mix) + 1]
  if kind == "root" then
    count(kind)
    return wrk.format("GET", "/")
  end
  if kind == "login" then
    local code = codes[next_code]
    if code == nil then
      exhausted = exhausted + 1
      kind = "poll"
    else
      next_code = next_code + 1
      count(kind)
      local body = '{"code":"' .. code[1] .. '","device":{"device_id":"' .. code[2] ..
        '","model":"iPhone 15","os":"iOS 18.1","app_version":"1.0.0"}}'
      return wrk.format("POST", "/api/v1/auth/wechat",
        {["Content-Type"] = "application/json", ["X-Forwarded-For"] = code[3]}, body)
    end
  end
  local phone = phones[(n % #phones) + 1]
  local headers = {["Authorization"] = "Bearer " .. phone[1], ["X-Forwarded-For"] = phone[3]}
  count(kind)
  if kind == "poll" then
    return wrk.format("GET", "/api/v1/jobs/" .. phone[2], headers)
  elseif kind == "upload" then
    headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
    return wrk.format("POST", "/api/v1/uploads", headers, upload_body)
  elseif kind == "order" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/v1/orders", headers, '{"product":"video_generation"}')
  end
  error("unknown request kind " .. kind)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad[status] = (bad[status] or 0) + 1
  end
end

local function merged(name)
  local total = {}
  for _, t in ipairs(threads) do
    for key, value in pairs(t:get(name)) do total[key] = (total[key] or 0) + value end
  end
  local parts = {}
  for key, value in pairs(total) do table.insert(parts, key .. ":" .. value) end
  return table.concat(parts, ",")
end

function done(summary, latency, requests)
  local total_ok, total_exhausted = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_exhausted = total_exhausted + t:get("exhausted")
  end
  local e = summary.errors
  io.write(string.format("BENCH_STATUS ok=%d bad=%s\n", total_ok, merged("bad")))
  io.write(string.format("BENCH_SENT %s exhausted=%d\n", merged("sent"), total_exhausted))
  io.write(string.format("BENCH_LATENCY p50=%d p90=%d p95=%d p99=%d max=%d mean=%.0f\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
  io.write(string.format("BENCH_SUMMARY requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout))
end
