-- Users of the server and the API keys they authenticate with.

create table users (
    id uuid primary key,
    email text not null,
    name text,
    -- Kept by triggers on properties and application installations: whether every property of
    -- the user has the Messages app is then one row away.
    properties_count integer not null default 0,
    messages_app_count integer not null default 0,
    inserted_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Email addresses are unique whatever their case.
create unique index users_email_key on users (lower(email));

create table api_keys (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    -- SHA-256 of the plaintext key; the plaintext is shown once and never stored.
    key_hash bytea not null,
    -- true: the key sees every property of its user; false: only those in api_key_properties.
    all_properties boolean not null,
    inserted_at timestamptz not null default now(),
    revoked_at timestamptz,
    constraint api_keys_key_hash_key unique (key_hash),
    constraint api_keys_key_hash_length check (octet_length(key_hash) = 32)
);

create index api_keys_user_id_idx on api_keys (user_id);
