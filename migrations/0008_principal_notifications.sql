-- Every server process keeps the principals of the credentials it has seen (key → user, scope,
-- whether every property of the user has the Messages app) in memory. These triggers tell every
-- process what to forget, at commit, on the channel `ota_inbox_principals`: the payload is the id
-- of the user whose principals changed, or '*' for all of them (TRUNCATE, as `POST /admin/reset`
-- does). Identical notifications of one transaction are delivered once, so a bulk change of one
-- user costs one notification.
--
-- What a principal is read from (api_keys, api_key_properties, the user's counters) is covered,
-- and so are the changes that move those counters (properties, application installations),
-- so that the cache stays right whichever way the counters are kept.

create function principals_notify(affected uuid) returns void language sql as $$
    select pg_notify('ota_inbox_principals', coalesce(affected::text, '*'))
$$;

-- Keys: revocation, deletion, any change of what the key resolves to. A new key needs nothing
-- (unknown keys are never cached).
create function principals_changed_api_key() returns trigger language plpgsql as $$
begin
    perform principals_notify(old.user_id);
    if tg_op = 'UPDATE' and new.user_id <> old.user_id then
        perform principals_notify(new.user_id);
    end if;
    return null;
end
$$;

create trigger api_keys_principals
    after update of revoked_at, all_properties, user_id, key_hash or delete on api_keys
    for each row execute function principals_changed_api_key();

-- A key's listed properties (its scope). When the key itself is gone (a cascade), the key's own
-- trigger has said it.
create function principals_changed_key_scope() returns trigger language plpgsql as $$
declare
    affected uuid;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        select user_id into affected from api_keys where id = old.api_key_id;
        if affected is not null then
            perform principals_notify(affected);
        end if;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        select user_id into affected from api_keys where id = new.api_key_id;
        if affected is not null then
            perform principals_notify(affected);
        end if;
    end if;
    return null;
end
$$;

create trigger api_key_properties_principals
    after insert or update or delete on api_key_properties
    for each row execute function principals_changed_key_scope();

-- Properties created, deleted or moved: the user's "Messages app everywhere" can change.
create function principals_changed_property() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        perform principals_notify(old.user_id);
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        perform principals_notify(new.user_id);
    end if;
    return null;
end
$$;

create trigger properties_principals
    after insert or delete or update of user_id on properties
    for each row execute function principals_changed_property();

-- The Messages app installed or uninstalled. When the property is gone (a cascade), the
-- property's own trigger has said it.
create function principals_changed_installation() returns trigger language plpgsql as $$
declare
    affected uuid;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        select user_id into affected from properties where id = old.property_id;
        if affected is not null then
            perform principals_notify(affected);
        end if;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        select user_id into affected from properties where id = new.property_id;
        if affected is not null then
            perform principals_notify(affected);
        end if;
    end if;
    return null;
end
$$;

create trigger application_installations_principals
    after insert or update or delete on application_installations
    for each row execute function principals_changed_installation();

-- Users deleted, or their counters set by hand.
create function principals_changed_user() returns trigger language plpgsql as $$
begin
    perform principals_notify(old.id);
    return null;
end
$$;

create trigger users_principals
    after delete or update of properties_count, messages_app_count on users
    for each row execute function principals_changed_user();

-- TRUNCATE fires no row trigger: forget everything.
create function principals_truncated() returns trigger language plpgsql as $$
begin
    perform principals_notify(null);
    return null;
end
$$;

create trigger users_principals_truncate after truncate on users
    for each statement execute function principals_truncated();
create trigger api_keys_principals_truncate after truncate on api_keys
    for each statement execute function principals_truncated();
create trigger api_key_properties_principals_truncate after truncate on api_key_properties
    for each statement execute function principals_truncated();
create trigger properties_principals_truncate after truncate on properties
    for each statement execute function principals_truncated();
create trigger application_installations_principals_truncate
    after truncate on application_installations
    for each statement execute function principals_truncated();
