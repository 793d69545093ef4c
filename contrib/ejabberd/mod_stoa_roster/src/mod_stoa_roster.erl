%%% mod_stoa_roster: lets a Stoa service write its group rosters' items.
%%%
%%% Part of Stoa (docs/rosters.md, "ejabberd"). Stoa puts the members of a
%%% group in each other's rosters with subscription "both". On Prosody it
%%% does so with XEP-0356 privileged roster sets. ejabberd 23.01's
%%% mod_privilege cannot: a privileged roster set makes ejabberd drop the
%%% component's connection (upstream issue #3942, fixed in 23.10, not in
%%% Debian 12's package), and even fixed it ignores `subscription`. This
%%% module takes the same item from the configured service, for the users
%%% of the host it is loaded on, and writes it with mod_roster's own
%%% function, subscription included, which pushes it to the user's
%%% resources and sends the presence the new subscription calls for:
%%%
%%%   <iq type='set' from='SERVICE' to='HOST'>
%%%     <roster xmlns='urn:stoa:roster:0' user='alice@HOST'>
%%%       <item xmlns='jabber:iq:roster' jid='bob@HOST' subscription='both'>
%%%         <group>Staff</group>
%%%       </item>
%%%     </roster>
%%%   </iq>
%%%
%%% subscription='remove' removes the item. Being an IQ handler of the host,
%%% the namespace is listed in the host's disco#info, which is how Stoa
%%% finds the module. Roster reads stay with mod_privilege (roster: get).
%%%
%%% Configuration (ejabberd.yml), Stoa's domain being rooms.example.org:
%%%
%%%   modules:
%%%     mod_stoa_roster:
%%%       service: rooms.example.org
%%%
%%% Build and install it as mod_stoa_report (its header says how).

-module(mod_stoa_roster).
-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1, mod_options/1,
         mod_doc/0, process_iq/1, decode_iq_subel/1]).

-include("xmpp.hrl").
-include("logger.hrl").

-define(NS_STOA_ROSTER, <<"urn:stoa:roster:0">>).

start(Host, Opts) ->
    gen_iq_handler:add_iq_handler(ejabberd_local, Host, ?NS_STOA_ROSTER,
                                  ?MODULE, process_iq),
    ?INFO_MSG("mod_stoa_roster: ~ts may write the rosters of ~ts users",
              [gen_mod:get_opt(service, Opts), Host]),
    ok.

stop(Host) ->
    gen_iq_handler:remove_iq_handler(ejabberd_local, Host, ?NS_STOA_ROSTER),
    ok.

reload(_Host, _NewOpts, _OldOpts) ->
    ok.  % the service is read on every request

depends(_Host, _Opts) ->
    [{mod_roster, hard}].

mod_opt_type(service) ->
    econf:domain().

mod_options(_Host) ->
    [service].

mod_doc() ->
    #{desc => "Lets a Stoa service write roster items of local users with "
              "their subscription (group rosters)."}.

%% gen_iq_handler decodes the payload with the xmpp codec first, which knows
%% no urn:stoa:roster:0; the element is read here as it came.
decode_iq_subel(El) ->
    El.

process_iq(#iq{type = set, from = #jid{luser = <<>>, lresource = <<>>, lserver = From},
               to = #jid{lserver = Host}, lang = Lang, sub_els = [El]} = IQ) ->
    case gen_mod:get_module_opt(Host, ?MODULE, service) of
        From -> write(IQ, Host, El);
        _ -> refuse(IQ, xmpp:err_forbidden(<<"Not the configured service">>, Lang))
    end;
process_iq(#iq{lang = Lang} = IQ) ->
    refuse(IQ, xmpp:err_forbidden(<<"Only the configured service may set">>, Lang)).

write(#iq{lang = Lang} = IQ, Host, El) ->
    try
        User = jid:decode(fxml:get_tag_attr_s(<<"user">>, El)),
        [ItemEl] = [C || #xmlel{name = <<"item">>} = C <- El#xmlel.children],
        #roster_item{} = Item = xmpp:decode(ItemEl),
        {User#jid.lserver, User#jid.luser, Item}
    of
        {Host, LUser, _} when LUser /= <<>> ->
            case mod_roster:set_item_and_notify_clients(jid:remove_resource(User), Item, true) of
                ok -> xmpp:make_iq_result(IQ);
                {error, _} ->
                    refuse(IQ, xmpp:err_internal_server_error(<<"Database failure">>, Lang))
            end;
        _ ->
            refuse(IQ, xmpp:err_forbidden(<<"Not a user of this host">>, Lang))
    catch Class:Reason ->
        ?DEBUG("mod_stoa_roster: bad request ~p: ~p:~p", [El, Class, Reason]),
        refuse(IQ, xmpp:err_bad_request(<<"Expected <roster user='...'> with one <item/>">>, Lang))
    end.

refuse(IQ, Err) ->
    xmpp:make_error(IQ, Err).
