-- wrk script for bench/run.sh: one file, the scenario chosen by environment.
--
--   BENCH_SCENARIO  health | get | list | post | mix | author | path
--                   (default health); author: one author's page sorted by
--                   price (bench/run.sh's and ab.sh's seed gives each author
--                   20 books); path: GET BENCH_PATH, e.g. a page after a
--                   cursor taken from a first page's `next`
--   BENCH_MAX_ID    GET /books/{id} picks ids uniformly from 1..BENCH_MAX_ID
--   BENCH_RUN_TAG   makes POSTed titles unique across runs and passes
--
-- health, list, author and path are fixed requests, so no request() function
-- is defined for them and wrk sends its pre-built request without calling Lua. The
-- scenarios that need a fresh request each time (random id, unique title)
-- define request(). No response() function is defined: it would make wrk
-- parse every response's headers in Lua and slow the client down.
--
-- done() prints one line the runner parses:
--   BENCH_RESULT requests=N duration_us=N bytes=N p50_us=N p90_us=N p99_us=N
--                max_us=N status=N connect=N read=N write=N timeout=N
-- `status` is wrk's summary.errors.status: responses with a status >= 400
-- (wrk does not count 3xx there; bookshelf sends none on these routes).

local scenario = os.getenv("BENCH_SCENARIO") or "health"
local max_id = tonumber(os.getenv("BENCH_MAX_ID") or "10000")
local tag = os.getenv("BENCH_RUN_TAG") or tostring(os.time())

local json_headers = { ["Content-Type"] = "application/json" }

-- setup() runs in the main Lua state once per thread; give each its number.
local next_thread = 0
function setup(thread)
   next_thread = next_thread + 1
   thread:set("thread_no", next_thread)
end

local counter = 0

function init(args)
   local no = thread_no or 0
   math.randomseed(os.time() * 1000 + no * 7919)
   -- LuaJIT's first values after seeding are poorly mixed: discard a few.
   for _ = 1, 10 do math.random() end
end

local function get_book()
   return wrk.format("GET", "/books/" .. math.random(1, max_id))
end

local function post_book()
   counter = counter + 1
   local body = string.format(
      '{"title":"bench %s t%d n%d","author":"Bench Author %d","price":%d.5,'
         .. '"rating":%d,"published":%s,"description":"Written by the benchmark."}',
      tag, thread_no or 0, counter, counter % 100, counter % 50,
      counter % 5 + 1, (counter % 2 == 0) and "true" or "false")
   return wrk.format("POST", "/books", json_headers, body)
end

if scenario == "health" then
   wrk.method = "GET"
   wrk.path = "/health"
elseif scenario == "list" then
   wrk.method = "GET"
   wrk.path = "/books?limit=20"
elseif scenario == "author" then
   wrk.method = "GET"
   wrk.path = "/books?limit=20&author=Author%201&sort=price"
elseif scenario == "path" then
   wrk.method = "GET"
   wrk.path = os.getenv("BENCH_PATH") or error("BENCH_SCENARIO=path needs BENCH_PATH")
elseif scenario == "get" then
   request = get_book
elseif scenario == "post" then
   request = post_book
elseif scenario == "mix" then
   -- 90% reads, 10% writes: every tenth request of a thread is a POST.
   local n = 0
   request = function()
      n = n + 1
      if n % 10 == 0 then
         return post_book()
      end
      return get_book()
   end
else
   error("unknown BENCH_SCENARIO " .. scenario)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d "
         .. "max_us=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
