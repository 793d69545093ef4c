-- Prosody for Stoa's Docker Compose demo (docker/compose.yaml).
-- The same setup as the configuration scripts/demo writes: host "localhost"
-- with users alice and bob, and the external component "rooms.localhost"
-- (stoa-component). Differences, because this runs in a container: it listens
-- on the container's addresses (compose publishes the ports on the host's
-- loopback only), on the standard ports 5222 and 5347, and logs to stdout.

pidfile = "/var/lib/prosody/prosody.pid"
data_path = "/var/lib/prosody"
certificates = "/var/lib/prosody/certs"
log = {
    { levels = { min = "info" }, to = "stdout", timestamps = true };
}
modules_enabled = {
    "roster"; "saslauth"; "tls"; "disco"; "ping"; "time"; "version"; "uptime";
    "private"; "vcard4"; "vcard_legacy"; "blocklist"; "carbons"; "pep"; "smacks";
    "csi_simple"; "mam"; "posix";
}
modules_disabled = { "s2s"; "admin_shell" }

-- Inside the container network. Nothing here is reachable from other
-- machines: compose.yaml publishes 5222 and 5347 on 127.0.0.1 only.
interfaces = { "*" }
c2s_ports = { 5222 }
c2s_interfaces = { "*" }
c2s_direct_tls_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
-- The XEP-0114 component port stoa-component connects to (prosody:5347).
component_ports = { 5347 }
component_interfaces = { "*" }

authentication = "internal_hashed"
storage = "internal"
-- Loopback demo: TLS is offered (self-signed) but not required.
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false

VirtualHost "localhost"

-- Must equal [component] secret in docker/stoa-component.conf.
-- Change both before letting anyone else near this setup.
Component "rooms.localhost"
    component_secret = "stoa-compose-demo-secret-change-me"
