%%% mod_stoa_report: copies local users' blocking requests to Stoa.
%%%
%%% Part of Stoa (docs/safety.md, "Wiring Prosody and ejabberd"). Clients
%%% send XEP-0377 abuse reports inside XEP-0191 block requests to their own
%%% server. For every IQ set from a local user whose child is
%%% {urn:xmpp:blocking}block or unblock, this module routes a copy to the
%%% Stoa service, in the shape Prosody's mod_firewall FORWARD gives it:
%%%
%%%   <message from='HOST' to='SERVICE'>
%%%     <forwarded xmlns='urn:xmpp:forward:0'>
%%%       <iq xmlns='jabber:client' type='set' from='user@HOST/res' ...>
%%%         <block xmlns='urn:xmpp:blocking'>...</block>
%%%       </iq>
%%%     </forwarded>
%%%   </message>
%%%
%%% The original IQ goes on untouched: mod_blocking keeps doing blocking.
%%%
%%% Configuration (ejabberd.yml), Stoa's domain being rooms.example.org:
%%%
%%%   modules:
%%%     mod_stoa_report:
%%%       service: rooms.example.org
%%%
%%% and in Stoa, [desk] report_servers = <this ejabberd host>.
%%%
%%% Written for ejabberd 23.01 (Debian 12). Install it either way:
%%%
%%%  * ejabberd's contrib installer: copy this directory (with the .spec)
%%%    to $CONTRIB_MODULES_PATH/sources/mod_stoa_report (Debian:
%%%    /var/lib/ejabberd/.ejabberd-modules/sources/mod_stoa_report), then
%%%    `ejabberdctl module_install mod_stoa_report`;
%%%  * by hand:
%%%      erlc -pa /usr/lib/x86_64-linux-gnu/ejabberd-23.01-1/ebin \
%%%           -I /usr/lib/x86_64-linux-gnu/ejabberd-23.01-1/include \
%%%           -I /usr/lib/erlang/lib/p1_xmpp-1.6.1/include \
%%%           src/mod_stoa_report.erl
%%%    and put mod_stoa_report.beam in $CONTRIB_MODULES_PATH/mod_stoa_report/ebin/
%%%    with mod_stoa_report.spec in $CONTRIB_MODULES_PATH/mod_stoa_report/.
%%%
%%% See docs/safety.md, "Wiring Prosody and ejabberd".

-module(mod_stoa_report).
-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1, mod_options/1,
         mod_doc/0, user_send_packet/1]).

-include("xmpp.hrl").
-include("logger.hrl").

-define(NS_BLOCKING_, <<"urn:xmpp:blocking">>).

start(Host, Opts) ->
    ejabberd_hooks:add(user_send_packet, Host, ?MODULE, user_send_packet, 50),
    ?INFO_MSG("mod_stoa_report: copying blocking requests of ~ts users to ~ts",
              [Host, gen_mod:get_opt(service, Opts)]),
    ok.

stop(Host) ->
    ejabberd_hooks:delete(user_send_packet, Host, ?MODULE, user_send_packet, 50),
    ok.

reload(_Host, _NewOpts, _OldOpts) ->
    ok.  % the service is read on every copy

depends(_Host, _Opts) ->
    [].

mod_opt_type(service) ->
    econf:domain().

%% No default: the service is required.
mod_options(_Host) ->
    [service].

mod_doc() ->
    #{desc => "Copies local users' XEP-0191 block and unblock requests "
              "(with any XEP-0377 report inside) to a Stoa service, "
              "wrapped in XEP-0297 <forwarded/>."}.

%% The hook folds {Packet, C2SState}; it must return it unchanged.
user_send_packet({#iq{type = set, from = #jid{luser = User, lserver = Host}} = IQ,
                  _C2SState} = Acc) when User /= <<>> ->
    case is_blocking(xmpp:get_els(IQ)) of
        true -> copy(Host, IQ);
        false -> ok
    end,
    Acc;
user_send_packet(Acc) ->
    Acc.

%% Exactly one child, <block/> or <unblock/> in urn:xmpp:blocking (the
%% sub-elements are usually still raw xmlel here; records are handled too).
is_blocking([El]) ->
    try
        xmpp:get_ns(El) == ?NS_BLOCKING_ andalso
            lists:member(xmpp:get_name(El), [<<"block">>, <<"unblock">>])
    catch _:_ ->
        false
    end;
is_blocking(_) ->
    false.

copy(Host, IQ) ->
    case gen_mod:is_loaded(Host, ?MODULE) of
        false ->
            ok;
        true ->
            Service = gen_mod:get_module_opt(Host, ?MODULE, service),
            Msg = #message{id = p1_rand:get_string(),
                           type = normal,
                           from = jid:make(Host),
                           to = jid:make(Service),
                           sub_els = [#forwarded{sub_els = [xmpp:encode(IQ)]}]},
            ?DEBUG("mod_stoa_report: copy of ~ts's blocking request to ~ts",
                   [jid:encode(IQ#iq.from), Service]),
            ejabberd_router:route(Msg)
    end.
