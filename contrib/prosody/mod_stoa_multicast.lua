-- mod_stoa_multicast: Stoa's fan-out expander for Prosody 0.12 (an XEP-0033
-- subset). docs/prosody.md, "The fan-out expander".
--
--   Component "multicast.example.org" "stoa_multicast"
--       stoa_multicast_senders = { "rooms.example.org" }
--
-- stoa-component sends a room's message (or an identical presence) once,
-- addressed to this host, with <addresses xmlns='http://jabber.org/protocol/address'>
-- holding one <address type='bcc' jid='...'/> per recipient session; this
-- module delivers one copy to each, exactly as if the component had sent
-- them one by one, with the address list removed. Prosody then parses the
-- stanza once instead of once per recipient.
--
-- It is not an open relay, and says it is an expander only to those who may
-- use it: only a component connection authenticated for one
-- of stoa_multicast_senders may use it (a user, another component or a remote
-- server is refused with <forbidden/>), and every address must be a user of a
-- VirtualHost of this server (an address elsewhere refuses the whole stanza
-- with <not-allowed/>, before anything is delivered).

local st = require "util.stanza";
local dataforms = require "util.dataforms";
local jid_prepped_split = require "util.jid".prepped_split;
local jid_host = require "util.jid".host;
local t_concat = table.concat;
local s_find = string.find;

local NS_ADDRESS = "http://jabber.org/protocol/address";

local hosts = prosody.hosts;
local full_sessions = prosody.full_sessions;
local core_post_stanza = prosody.core_post_stanza;

local senders = module:get_option_set("stoa_multicast_senders", {});
-- A sanity bound, not a policy: the component's stream limit (Prosody's
-- component_stanza_size_limit, 512 KiB) allows about 11,000 addresses.
local max_addresses = module:get_option_number("stoa_multicast_max_addresses", 20000);
-- Serialize the copies once (below); false only to measure what that buys.
local serialize_once = module:get_option_boolean("stoa_multicast_serialize_once", true);

if senders:empty() then
	module:log("error", "stoa_multicast_senders is empty: every stanza will be refused");
else
	module:log("info", "expanding stanzas of %s", tostring(senders));
end

module:depends("disco");
module:add_identity("service", "multicast", module:get_option_string("name", "Stoa fan-out"));
module:add_feature(NS_ADDRESS);
-- The most addresses one stanza may hold, as ejabberd's mod_multicast says
-- it (a XEP-0128 form in disco#info): the sender splits its lists by it.
module:add_extension(dataforms.new({
	{ name = "FORM_TYPE", type = "hidden", value = NS_ADDRESS };
	{ name = "message" };
	{ name = "presence" };
}):form({ message = tostring(max_addresses), presence = tostring(max_addresses) }, "result"));

-- The one sender allowed: an external component's own connection (not a
-- host of this server routing internally, which has no conn), authenticated
-- for a trusted domain, sending from that domain.
local function trusted(origin, stanza)
	return origin.type == "component" and origin.conn ~= nil and senders:contains(origin.host)
		and jid_host(stanza.attr.from) == origin.host;
end

-- The JID to deliver to, or nil when it is not a user of this server. A
-- full JID of an online session is already in Prosody's own form (that is
-- how it reached the component), so the stringprep is skipped for it.
local function local_target(addr)
	if full_sessions[addr] then
		return addr;
	end
	local node, host, resource = jid_prepped_split(addr);
	if not node then
		return nil;
	end
	local h = hosts[host];
	if not h or h.type ~= "local" then
		return nil;
	end
	return resource and (node .. "@" .. host .. "/" .. resource) or (node .. "@" .. host);
end

-- Only a trusted sender is told this is an expander: another Stoa domain
-- (or anything else that finds it by disco) would otherwise send it rooms'
-- messages only to have them refused.
module:hook("iq-get/host/http://jabber.org/protocol/disco#info:query", function(event)
	local origin, stanza = event.origin, event.stanza;
	local node = stanza.tags[1].attr.node;
	if (node and node ~= "") or trusted(origin, stanza) then
		return; -- mod_disco answers, with the feature and the limits
	end
	origin.send(st.reply(stanza):query("http://jabber.org/protocol/disco#info")
		:tag("identity", { category = "service", type = "multicast",
			name = module:get_option_string("name", "Stoa fan-out") }):up()
		:tag("feature", { var = "http://jabber.org/protocol/disco#info" }):up());
	return true;
end, 10);

local function refuse(origin, stanza, condition, text)
	if stanza.attr.type ~= "error" then
		origin.send(st.error_reply(stanza, "cancel", condition, text, module.host));
	end
	return true;
end

-- Collects the targets first: a stanza with one bad address is refused
-- whole, so the sender never has to work out who already got a copy.
local function targets_of(addresses)
	local out, n = {}, 0;
	for i = 1, #addresses do
		local a = addresses[i];
		if a.name == "address" and a.attr.xmlns == NS_ADDRESS then
			local attr = a.attr;
			if attr.type ~= "bcc" or attr.uri or attr.node or not attr.jid then
				return nil, "bad-request", "only <address type='bcc' jid='...'/> is supported";
			end
			local to = local_target(attr.jid);
			if not to then
				return nil, "not-allowed", "not a user of this server: " .. attr.jid;
			end
			n = n + 1;
			if n > max_addresses then
				return nil, "not-acceptable", "too many addresses";
			end
			out[n] = to;
		end
	end
	if n == 0 then
		return nil, "bad-request", "no addresses";
	end
	return out;
end

-- The copies' serialization, once per stanza instead of once per copy.
--
-- Per copy, Prosody serializes the whole stanza (tostring on send) and its
-- start tag twice more, for debug log lines it builds even when debug is
-- off (sessionmanager's "Sending", mod_carbons' "Not copying"): in a
-- profile of this path, util.stanza's serializer was about half of
-- Prosody's work per delivery, and the more children (Stoa's stanza-id and
-- occupant-id) the more it costs. So while the copies are routed, the
-- stanza carries a metatable of its own: its children are serialized once,
-- only the start tag (whose 'to' changes) is built per copy, and top_tag
-- needs no clone. It is a stanza to everyone else (getmetatable gives
-- util.stanza's metatable through __metatable, so st.is_stanza holds;
-- every method is util.stanza's), whoever keeps it clones it (mod_smacks,
-- mod_csi_simple do), and if anything changes its children in between, the
-- cache is not used. Once routed, it gets util.stanza's metatable back.
local stanza_mt = st.stanza_mt;
local xml_escape = st.xml_escape;
local set_metatable = debug.setmetatable;
local base_mt = {};
for k, v in pairs(stanza_mt) do
	if type(k) == "string" and k:sub(1, 2) == "__" then
		base_mt[k] = v;
	end
end

-- The start tag without its closing '>', as util.stanza writes it; nil for
-- a namespaced attribute (left to util.stanza).
local function start_tag(t)
	local buf, n = { "<", t.name }, 2;
	for k, v in pairs(t.attr) do
		if s_find(k, "\1", 1, true) then
			return nil;
		end
		n = n + 1;
		buf[n] = " " .. k .. "='" .. xml_escape(v) .. "'";
	end
	return t_concat(buf);
end

-- A metatable for routing this stanza's copies, or nil when it has a
-- namespaced attribute.
local function cached_mt(stanza)
	local name, attr = stanza.name, stanza.attr;
	-- Every attribute but 'to' is the same in every copy: written once.
	local fixed, fixed_n = {}, 0;
	for k, v in pairs(attr) do
		if s_find(k, "\1", 1, true) then
			return nil;
		end
		if k ~= "to" then
			fixed[k], fixed_n = v, fixed_n + 1;
		end
	end
	local fixed_head = start_tag({ name = name, attr = fixed });
	local n, refs, parts = #stanza, {}, {};
	for i = 1, n do
		local c = stanza[i];
		refs[i] = c;
		parts[i] = c.name and tostring(c) or xml_escape(c);
	end
	local tail = n == 0 and "/>" or (">" .. t_concat(parts) .. "</" .. name .. ">");
	local function unchanged(t)
		if t.name ~= name or #t ~= n then
			return false;
		end
		for i = 1, n do
			if t[i] ~= refs[i] then
				return false;
			end
		end
		return true;
	end
	-- The start tag of the copy being routed: asked for three times per
	-- copy (two log lines and the send), built once per 'to'. The send
	-- checks every attribute; a log line's start tag is the last one built
	-- when 'to' has not changed since.
	local last_to, last_head;
	local function head(t)
		local a, seen = t.attr, 0;
		for k, v in pairs(a) do
			if k ~= "to" then
				if fixed[k] ~= v then
					return start_tag(t);
				end
				seen = seen + 1;
			end
		end
		if seen ~= fixed_n or t.name ~= name then
			return start_tag(t);
		end
		local to = a.to;
		if to ~= last_to or not last_head then
			last_to = to;
			last_head = to and (fixed_head .. " to='" .. xml_escape(to) .. "'") or fixed_head;
		end
		return last_head;
	end
	local mt = {};
	for k, v in pairs(base_mt) do
		mt[k] = v;
	end
	mt.__tostring = function(t)
		local h = unchanged(t) and head(t);
		if h then
			return h .. tail;
		end
		return base_mt.__tostring(t);
	end
	mt.__index = setmetatable({
		top_tag = function(t)
			if last_head and t.attr.to == last_to then
				return last_head .. ">";
			end
			local h = head(t);
			if h then
				return h .. ">";
			end
			return stanza_mt.top_tag(t);
		end;
	}, { __index = stanza_mt });
	mt.__metatable = stanza_mt;
	return mt;
end

local function expand(event)
	local origin, stanza = event.origin, event.stanza;
	if stanza.attr.type == "error" then
		return true; -- never answer an error (no loops)
	end
	if not trusted(origin, stanza) then
		module:log("warn", "refused a %s from %s (%s %s): not a trusted sender", stanza.name,
			tostring(stanza.attr.from), tostring(origin.type), tostring(origin.host));
		return refuse(origin, stanza, "forbidden", "not a trusted sender");
	end
	local addresses = stanza:get_child("addresses", NS_ADDRESS);
	if not addresses then
		return refuse(origin, stanza, "bad-request", "no addresses");
	end
	local targets, condition, text = targets_of(addresses);
	if not targets then
		return refuse(origin, stanza, condition, text);
	end
	stanza:remove_children("addresses", NS_ADDRESS);
	-- As mod_muc does: one stanza object, routed once per recipient with its
	-- 'to' changed (whoever keeps a stanza beyond the call clones it).
	local mt = serialize_once and cached_mt(stanza);
	if mt then
		setmetatable(stanza, mt);
	end
	for i = 1, #targets do
		stanza.attr.to = targets[i];
		core_post_stanza(origin, stanza);
	end
	if mt then
		set_metatable(stanza, stanza_mt);
	end
	return true;
end

module:hook("message/host", expand, 10);
module:hook("presence/host", expand, 10);
-- Anything sent to a user-looking address on this host is an error, not a
-- silent drop (answers and errors are dropped: no loops).
local function not_here(event)
	local t = event.stanza.attr.type;
	if t == "result" or t == "error" then
		return true;
	end
	return refuse(event.origin, event.stanza, "service-unavailable", nil);
end
for _, kind in ipairs({ "message", "presence", "iq" }) do
	module:hook(kind .. "/bare", not_here, 10);
	module:hook(kind .. "/full", not_here, 10);
end
