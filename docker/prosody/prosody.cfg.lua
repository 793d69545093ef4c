-- The compose stack's copy: do not edit, run scripts/render-config --write.
-- Made from contrib/config/prosody.cfg.lua.in (profile compose) by
-- scripts/render-config: the one template for the demo, the tests and compose.
pidfile = "/var/lib/prosody/prosody.pid"
data_path = "/var/lib/prosody"
certificates = "/var/lib/prosody/certs"
-- Where mod_stoa_multicast.lua is (Stoa's fan-out expander, below).
plugin_paths = { "/usr/share/stoa/prosody" }
log = {
    { levels = { min = "info" }, to = "stdout", timestamps = true };
}
modules_enabled = {
    "roster"; "saslauth"; "tls"; "disco"; "ping"; "time"; "version"; "uptime";
    "private"; "vcard4"; "vcard_legacy"; "blocklist"; "carbons"; "pep"; "smacks";
    "csi_simple"; "mam";
    "posix"; -- SIGTERM handling (with -F it does not daemonize)
    "websocket"; -- browser clients (Converse.js) on http_ports, /xmpp-websocket
    "firewall"; -- copies of blocking requests (abuse reports) to Stoa
}
-- prosody-modules' mod_firewall with contrib/prosody/stoa-reports.pfw:
-- docs/prosody.md, "Reports reach the desk".
firewall_scripts = { "/etc/prosody/stoa-reports.pfw" }
modules_disabled = { "s2s"; "admin_shell" }
interfaces = { "*" }
local_interfaces = { "*" }
c2s_ports = { 5222 }
c2s_interfaces = { "*" }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
s2s_direct_tls_ports = { }
http_ports = { 5280 }
http_interfaces = { "*" }
-- Any Host header (127.0.0.1:PORT too) reaches the VirtualHost.
http_default_host = "localhost"
-- Plain ws:// on a private address counts as secure (SASL PLAIN allowed);
-- behind a TLS proxy in production, see docs/prosody.md.
consider_websocket_secure = true
https_ports = { }
-- The XEP-0114 component port stoa-component connects to.
component_ports = { 5347 }
component_interfaces = { "*" }
authentication = "internal_hashed"
storage = "internal"
-- Private demo and test servers: TLS is offered (self-signed) but not
-- required. A real server sets c2s_require_encryption = true.
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false

VirtualHost "localhost"

Component "rooms.localhost"
    -- The secret is read from its own file, never written here.
    component_secret = assert(io.open("/run/stoa-secrets/stoa_component_secret")):read("*l")


-- Stoa's fan-out expander (contrib/prosody/mod_stoa_multicast.lua): the
-- component sends a room's message once with the list of its recipients,
-- Prosody delivers the copies. Only the components named here may use it,
-- and only for this server's own users. docs/prosody.md, "The fan-out
-- expander".
Component "multicast.localhost" "stoa_multicast"
    stoa_multicast_senders = { "rooms.localhost" }
