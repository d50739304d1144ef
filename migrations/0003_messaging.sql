-- Message threads, messages, attachments, the OTA outbox and the event log.

create table message_threads (
    id uuid primary key,
    property_id uuid not null references properties (id) on delete cascade,
    -- The owner of the property (which never changes hands): lets a key's thread list be read
    -- from one index, newest first, whatever the number of its properties.
    user_id uuid not null references users (id) on delete cascade,
    channel_id uuid not null references channels (id) on delete cascade,
    booking_id uuid references bookings (id) on delete cascade,
    provider text not null,
    title text not null,
    is_closed boolean not null default false,
    message_count integer not null default 0,
    -- The wire object of the newest message ({attachments, inserted_at, message, sender}).
    last_message jsonb,
    last_message_received_at timestamptz,
    inserted_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint message_threads_provider_check check (provider in ('BookingCom', 'AirBNB')),
    constraint message_threads_message_count_check check (message_count >= 0),
    constraint message_threads_booking_id_key unique (booking_id)
);

-- Thread lists: all of a user's threads by each orderable column (property_id included so
-- that the visible-property filter and the total are answered from the index), and one
-- property's threads.
create index message_threads_user_inserted_at_idx
    on message_threads (user_id, inserted_at, id) include (property_id);
create index message_threads_user_updated_at_idx
    on message_threads (user_id, updated_at, id) include (property_id);
create index message_threads_user_last_received_idx
    on message_threads (user_id, last_message_received_at, id) include (property_id);
create index message_threads_property_inserted_at_idx
    on message_threads (property_id, inserted_at, id);
create index message_threads_channel_id_idx on message_threads (channel_id);

-- Thread counts by property, provider and state, kept by a trigger: the `total` of a thread
-- list filtered (or not) by those columns is a sum over a few rows instead of a count over
-- every thread.
create table thread_counts (
    property_id uuid not null references properties (id) on delete cascade,
    provider text not null,
    is_closed boolean not null,
    threads bigint not null default 0,
    primary key (property_id, provider, is_closed)
);

-- The same for all properties of a user (the list of a key that sees them all).
create table user_thread_counts (
    user_id uuid not null references users (id) on delete cascade,
    provider text not null,
    is_closed boolean not null,
    threads bigint not null default 0,
    primary key (user_id, provider, is_closed)
);

create function thread_counts_track() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        update thread_counts set threads = threads - 1
        where property_id = old.property_id and provider = old.provider and is_closed = old.is_closed;
        update user_thread_counts set threads = threads - 1
        where user_id = old.user_id and provider = old.provider and is_closed = old.is_closed;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into thread_counts (property_id, provider, is_closed, threads)
        values (new.property_id, new.provider, new.is_closed, 1)
        on conflict (property_id, provider, is_closed) do update set threads = thread_counts.threads + 1;
        insert into user_thread_counts (user_id, provider, is_closed, threads)
        values (new.user_id, new.provider, new.is_closed, 1)
        on conflict (user_id, provider, is_closed) do update set threads = user_thread_counts.threads + 1;
    end if;
    return null;
end
$$;

create trigger message_threads_count_insert_delete after insert or delete on message_threads
    for each row execute function thread_counts_track();
create trigger message_threads_count_update after update of property_id, provider, is_closed on message_threads
    for each row
    when (old.property_id is distinct from new.property_id or old.provider is distinct from new.provider
          or old.is_closed is distinct from new.is_closed)
    execute function thread_counts_track();

create table messages (
    id uuid primary key,
    -- Insertion order; breaks ties between messages written in the same transaction.
    seq bigint generated always as identity,
    message_thread_id uuid not null references message_threads (id) on delete cascade,
    sender text not null,
    message text not null default '',
    user_id uuid references users (id) on delete set null,
    meta jsonb,
    ota_message_id text,
    no_reply_needed boolean not null default false,
    inserted_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint messages_sender_check check (sender in ('guest', 'property', 'system')),
    constraint messages_message_length check (char_length(message) <= 10000),
    constraint messages_thread_ota_message_id_key unique (message_thread_id, ota_message_id)
);

create index messages_thread_inserted_at_idx on messages (message_thread_id, inserted_at, seq);
create index messages_thread_sender_inserted_at_idx
    on messages (message_thread_id, sender, inserted_at, seq);

create table attachments (
    id uuid primary key,
    -- The uploader (a PMS user); null for attachments a guest sent through the OTA.
    user_id uuid references users (id) on delete cascade,
    message_id uuid references messages (id) on delete cascade,
    position integer not null default 0,
    file_name text not null,
    file_type text not null,
    byte_size integer not null,
    sha256 bytea not null,
    data bytea not null,
    inserted_at timestamptz not null default now(),
    constraint attachments_byte_size_check check (byte_size = octet_length(data)),
    constraint attachments_file_name_check
        check (octet_length(file_name) between 1 and 255 and file_name !~ '[/\\[:cntrl:]]'),
    constraint attachments_owner_check check (user_id is not null or message_id is not null)
);

create index attachments_message_id_idx on attachments (message_id, position);
create index attachments_user_id_idx on attachments (user_id);

-- What the property sent toward the OTAs: stands in for delivery to Booking.com or Airbnb.
create table ota_outbox (
    id uuid primary key,
    seq bigint generated always as identity,
    property_id uuid not null references properties (id) on delete cascade,
    message_thread_id uuid not null references message_threads (id) on delete cascade,
    message_id uuid references messages (id) on delete cascade,
    kind text not null,
    payload jsonb not null,
    inserted_at timestamptz not null default now(),
    constraint ota_outbox_kind_check check (kind in ('message', 'no_reply_needed'))
);

create index ota_outbox_inserted_at_idx on ota_outbox (inserted_at, seq);
create index ota_outbox_property_inserted_at_idx on ota_outbox (property_id, inserted_at, seq);
create index ota_outbox_thread_inserted_at_idx on ota_outbox (message_thread_id, inserted_at, seq);

-- Events for webhooks, written in the same transaction as the change that causes them.
create table events (
    id uuid primary key,
    seq bigint generated always as identity,
    event text not null,
    property_id uuid not null references properties (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    payload jsonb not null,
    inserted_at timestamptz not null default now(),
    constraint events_event_check
        check (event in ('message', 'inquiry', 'message_thread_booking_assigned'))
);

create index events_property_seq_idx on events (property_id, seq);
