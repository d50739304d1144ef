-- Properties, the Messages application, OTA channels and bookings.

create table properties (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    title text not null,
    currency text,
    timezone text,
    is_active boolean not null default true,
    inserted_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index properties_user_id_inserted_at_idx on properties (user_id, inserted_at, id);

create table api_key_properties (
    api_key_id uuid not null references api_keys (id) on delete cascade,
    property_id uuid not null references properties (id) on delete cascade,
    primary key (api_key_id, property_id)
);

create index api_key_properties_property_id_idx on api_key_properties (property_id);

create table application_installations (
    id uuid primary key,
    property_id uuid not null references properties (id) on delete cascade,
    application_code text not null,
    settings jsonb not null default '{}'::jsonb,
    inserted_at timestamptz not null default now(),
    constraint application_installations_code_check
        check (application_code in ('channex_messages')),
    constraint application_installations_property_code_key
        unique (property_id, application_code)
);

create function users_count_properties() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        update users set properties_count = properties_count + 1 where id = new.user_id;
    else
        update users set properties_count = properties_count - 1 where id = old.user_id;
    end if;
    return null;
end
$$;

create trigger properties_count after insert or delete on properties
    for each row execute function users_count_properties();

create function users_count_messages_app() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' and new.application_code = 'channex_messages' then
        update users set messages_app_count = messages_app_count + 1
        where id = (select user_id from properties where id = new.property_id);
    elsif tg_op = 'DELETE' and old.application_code = 'channex_messages' then
        update users set messages_app_count = messages_app_count - 1
        where id = (select user_id from properties where id = old.property_id);
    end if;
    return null;
end
$$;

create trigger application_installations_count after insert or delete on application_installations
    for each row execute function users_count_messages_app();

-- One channel per property and OTA; created with the first booking or inquiry of that OTA.
create table channels (
    id uuid primary key,
    property_id uuid not null references properties (id) on delete cascade,
    ota_name text not null,
    inserted_at timestamptz not null default now(),
    constraint channels_property_ota_key unique (property_id, ota_name)
);

create table bookings (
    id uuid primary key,
    property_id uuid not null references properties (id) on delete cascade,
    channel_id uuid not null references channels (id) on delete cascade,
    ota_name text not null,
    ota_reservation_code text not null,
    arrival_date date not null,
    departure_date date not null,
    customer_name text not null,
    customer_surname text,
    status text not null default 'new',
    inserted_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint bookings_dates_check check (departure_date > arrival_date),
    constraint bookings_status_check check (status in ('new', 'modified', 'cancelled'))
);

create index bookings_property_id_inserted_at_idx on bookings (property_id, inserted_at, id);
create index bookings_channel_id_idx on bookings (channel_id);
