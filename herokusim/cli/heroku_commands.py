"""CLI room: the Heroku CLI's own command names, so an unknown one gets "not simulated yet" and a suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# The commands of Heroku's CLI (heroku 8-10 with its core plugins, and the aliases it accepts), as listed by
# `heroku commands` and devcenter.heroku.com/articles/heroku-cli-commands. Data, not behaviour: a name here
# that herokusim lacks gets "herokusim does not simulate it yet" rather than "no such command". Commands
# herokusim has are listed too (this is Heroku's list), and never reach the lookup that reads it.
_HEROKU_COMMAND_TABLE = """
    2fa 2fa:disable
    access access:add access:remove access:update
    addons addons:attach addons:create addons:destroy addons:detach addons:docs addons:downgrade addons:info
    addons:open addons:plans addons:rename addons:services addons:upgrade addons:wait
    apps apps:create apps:destroy apps:errors apps:favorites apps:favorites:add apps:favorites:remove apps:info
    apps:join apps:leave apps:list apps:lock apps:open apps:rename apps:stacks apps:stacks:set apps:transfer
    apps:unlock create destroy info list open rename
    auth:2fa auth:login auth:logout auth:token auth:whoami login logout whoami
    authorizations authorizations:create authorizations:info authorizations:revoke authorizations:rotate
    authorizations:update
    autocomplete
    buildpacks buildpacks:add buildpacks:clear buildpacks:info buildpacks:remove buildpacks:search
    buildpacks:set buildpacks:versions
    certs certs:add certs:auto certs:auto:disable certs:auto:enable certs:auto:refresh certs:details
    certs:generate certs:info certs:remove certs:update
    ci ci:config ci:config:get ci:config:set ci:config:unset ci:debug ci:info ci:last ci:migrate-manifest
    ci:open ci:rerun ci:run
    clients clients:create clients:destroy clients:info clients:rotate clients:update
    commands
    config config:add config:edit config:get config:remove config:set config:unset
    container container:login container:logout container:pull container:push container:release container:rm
    container:run
    domains domains:add domains:clear domains:info domains:remove domains:update domains:wait
    drains drains:add drains:remove
    features features:disable features:enable features:info
    git:clone git:remote
    help
    keys keys:add keys:clear keys:remove
    labs labs:disable labs:enable labs:info
    local local:run local:version
    logs
    maintenance maintenance:off maintenance:on
    members members:add members:remove members:set
    notifications
    orgs orgs:open
    pg pg:backups pg:backups:cancel pg:backups:capture pg:backups:delete pg:backups:download pg:backups:info
    pg:backups:restore pg:backups:schedule pg:backups:schedules pg:backups:unschedule pg:backups:url pg:bloat
    pg:blocking pg:connection-pooling:attach pg:copy pg:credentials pg:credentials:create
    pg:credentials:destroy pg:credentials:repair-default pg:credentials:rotate pg:credentials:url pg:diagnose
    pg:info pg:kill pg:killall pg:links pg:links:create pg:links:destroy pg:locks pg:maintenance
    pg:maintenance:run pg:maintenance:window pg:outliers pg:promote pg:ps pg:psql pg:pull pg:push pg:reset
    pg:settings pg:unfollow pg:upgrade pg:vacuum-stats pg:wait
    pipelines pipelines:add pipelines:connect pipelines:create pipelines:destroy pipelines:diff pipelines:info
    pipelines:open pipelines:promote pipelines:remove pipelines:rename pipelines:setup pipelines:transfer
    pipelines:update
    plugins plugins:inspect plugins:install plugins:link plugins:uninstall plugins:update
    ps ps:autoscale:disable ps:autoscale:enable ps:copy ps:exec ps:forward ps:kill ps:resize ps:restart
    ps:scale ps:socks ps:stop ps:type ps:wait dyno:kill dyno:resize dyno:restart dyno:scale dyno:stop
    dyno:type restart resize scale
    redis redis:cli redis:credentials redis:info redis:keyspace-notifications redis:maintenance
    redis:maxmemory redis:promote redis:stats-reset redis:timeout redis:upgrade redis:wait
    regions
    releases releases:info releases:output releases:retry releases:rollback rollback
    reviewapps:disable reviewapps:enable
    run run:detached run:inside
    sessions sessions:destroy
    spaces spaces:create spaces:destroy spaces:drains:get spaces:drains:set spaces:info spaces:peering:info
    spaces:peerings spaces:peerings:accept spaces:peerings:destroy spaces:ps spaces:rename spaces:topology
    spaces:transfer spaces:trusted-ips spaces:trusted-ips:add spaces:trusted-ips:remove spaces:vpn:config
    spaces:vpn:connect spaces:vpn:connections spaces:vpn:destroy spaces:vpn:info spaces:vpn:update
    spaces:vpn:wait spaces:wait
    stack stack:set
    status
    teams teams:members teams:members:add teams:members:remove teams:members:set
    telemetry telemetry:add telemetry:info telemetry:remove telemetry:update
    update version which
    webhooks webhooks:add webhooks:deliveries webhooks:deliveries:info webhooks:events webhooks:events:info
    webhooks:info webhooks:remove webhooks:update
"""
HEROKU_COMMANDS = frozenset(_HEROKU_COMMAND_TABLE.split())


def unknown_command_message(name: str, ours: Iterable[str]) -> str:
    """One line for a command herokusim does not have: Heroku's names are "not simulated yet"; every
    unknown name gets the nearest command herokusim has, or where to find them all."""
    nearest = difflib.get_close_matches(name, sorted(ours), n=1)
    what = (f"{name} is a Heroku command that herokusim does not simulate yet" if name in HEROKU_COMMANDS
            else f"{name} is not a herokusim command")
    hint = f"did you mean {nearest[0]}?" if nearest else "`herokusim --help` lists the commands it has."
    return f"{what}; {hint}"
