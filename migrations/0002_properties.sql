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
