-- mod_bench_profile: a sampling profiler of Prosody's own Lua code, for
-- bench/run --profile (docs/benchmarks.md). Not for production.
--
-- perf sees Prosody as the Lua interpreter's C functions (a stripped
-- lua5.4); this sees which Lua functions the time goes to. A count hook
-- every bench_profile_every VM instructions records the running function and
-- its caller (file:line). It is set on the main thread, and every coroutine
-- created after that inherits it (Lua 5.4 copies it into new threads), which
-- covers the client sessions the benchmark opens later. The counts are written to
-- bench_profile_file when the file bench_profile_file..".dump" appears (the
-- harness touches it at the end of a run) and the counters start over.

local every = module:get_option_number("bench_profile_every", 1000);
local out = module:get_option_string("bench_profile_file", "/tmp/prosody-profile.txt");

local getinfo, sethook = debug.getinfo, debug.sethook;
local self_counts, incl_counts, total = {}, {}, 0;

local names = setmetatable({}, { __mode = "k" }); -- function -> its key
local function key(i)
	local k = names[i.func];
	if not k then
		k = (i.name or "?") .. "@" .. i.short_src:match("[^/]*/?[^/]*$") .. ":" .. i.linedefined;
		names[i.func] = k;
	end
	return k;
end

-- Level 1 is this hook; 2 the function running when it fired.
local function hook()
	local i = getinfo(2, "Snf");
	if not i then
		return;
	end
	total = total + 1;
	local k = key(i);
	self_counts[k] = (self_counts[k] or 0) + 1;
	local seen = {};
	for level = 2, 40 do
		i = getinfo(level, "Snf");
		if not i then
			break;
		end
		k = key(i);
		if not seen[k] then
			seen[k] = true;
			incl_counts[k] = (incl_counts[k] or 0) + 1;
		end
	end
end

local function top(f, title, counts)
	local rows = {};
	for k, n in pairs(counts) do
		rows[#rows + 1] = { k, n };
	end
	table.sort(rows, function(a, b) return a[2] > b[2]; end);
	f:write(title, "\n");
	for i = 1, math.min(#rows, 60) do
		f:write(("%6.2f%% %s\n"):format(rows[i][2] * 100 / math.max(total, 1), rows[i][1]));
	end
end

local function dump()
	local f = io.open(out, "w");
	if f then
		f:write(("%d samples, one per %d VM instructions\n\n"):format(total, every));
		top(f, "self (the function running):", self_counts);
		top(f, "\ninclusive (the function or what it called):", incl_counts);
		f:close();
	end
	self_counts, incl_counts, total = {}, {}, 0;
end

-- Modules load in a coroutine of Prosody's start-up; timers run on the
-- main thread, where the event loop creates the sessions' coroutines.
local hooked = false;
module:add_timer(0.5, function()
	if not hooked and select(2, coroutine.running()) then
		sethook(hook, "", every);
		hooked = true;
	end
	local f = io.open(out .. ".dump");
	if f then
		f:close();
		os.remove(out .. ".dump");
		dump();
	end
	return 0.5;
end);
module:log("warn", "profiling every %d VM instructions into %s", every, out);

function module.unload()
	sethook();
end
