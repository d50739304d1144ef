-- Live events (the SSE stream and the pull feed), one-time tokens and chat sessions of the chat
-- page, and the wake-ups of the OTA console.

-- The event log serves webhooks and the live stream. Events that are not webhook events
-- (messages the property or the system sent, thread updates) have `webhook = false`.
alter table events drop constraint events_event_check;
alter table events add constraint events_event_check
    check (event in ('message', 'inquiry', 'message_thread_booking_assigned',
                     'message_thread_updated'));
alter table events add column webhook boolean not null default true;

-- The stream id: assigned after commit by the sequencer (`events_sequence()`), so that ids
-- become visible in increasing order. Identity values (`seq`) are taken at insert time and
-- commit out of order: a reader that saw 10 could later miss 9. Null until sequenced.
alter table events add column stream_seq bigint;
alter table events add constraint events_stream_seq_key unique (stream_seq);
-- Replay by property, the sequencer's queue, and pruning by age.
create index events_property_stream_seq_idx on events (property_id, stream_seq)
    where stream_seq is not null;
create index events_unsequenced_idx on events (seq) where stream_seq is null;
create index events_inserted_at_idx on events (inserted_at);

-- The last stream id handed out. Kept apart from the events so that numbering never goes
-- back, whatever is deleted (pruning, a deleted property, POST /admin/reset).
create table event_stream (
    id boolean primary key default true,
    last_seq bigint not null,
    constraint event_stream_one_row check (id)
);

-- Events written before this migration are numbered in their insertion order.
update events e set stream_seq = n.n
from (select id, row_number() over (order by seq) as n from events) n
where e.id = n.id;
insert into event_stream (last_seq) select coalesce(max(stream_seq), 0) from events;

-- Numbers the committed, unsequenced events after the last stream id, in insertion order, and
-- NOTIFYs `ota_inbox_events_sequenced` with the new last id. Runs in any server process; the
-- advisory lock serialises the runs and is held until commit, so a run starts after the
-- previous one committed. The numbering statements come after the lock is taken: in READ
-- COMMITTED each takes a new snapshot, which sees every row committed before, so later
-- commits always get later numbers and readers of `stream_seq > cursor` never miss one.
-- Answers no row when another run holds the lock (it will NOTIFY).
create function events_sequence(batch integer default 10000)
returns table (last_id bigint, sequenced bigint) language plpgsql as $$
declare
    previous bigint;
    counted bigint;
begin
    if not pg_try_advisory_xact_lock(7310575183740515172) then
        return;
    end if;
    select s.last_seq into previous from event_stream s;
    with next as (
        select e.id, row_number() over (order by e.seq) as n
        from events e where e.stream_seq is null
        order by e.seq limit batch
    )
    update events e set stream_seq = previous + next.n from next where e.id = next.id;
    get diagnostics counted = row_count;
    if counted > 0 then
        update event_stream set last_seq = previous + counted;
        perform pg_notify('ota_inbox_events_sequenced', (previous + counted)::text);
    end if;
    return query select previous + counted, counted;
end
$$;

-- A new event wakes the sequencers (delivered at commit; one per transaction).
create function events_notify() returns trigger language plpgsql as $$
begin
    if exists (select 1 from inserted) then
        perform pg_notify('ota_inbox_events', '');
    end if;
    return null;
end
$$;

create trigger events_notify after insert on events
    referencing new table as inserted
    for each statement execute function events_notify();

-- Fan-out as in 0004, for webhook events only.
create or replace function webhooks_fan_out() returns trigger language plpgsql as $$
begin
    if not new.webhook then
        return null;
    end if;
    insert into webhook_deliveries (id, event_id, webhook_id)
    select gen_random_uuid(), new.id, w.id
    from webhooks w
    where w.is_active
      and (w.event_names @> array['*'] or w.event_names @> array[new.event])
      and (
        (not w.is_global and w.property_id = new.property_id)
        or (w.is_global and w.user_id = new.user_id and not exists (
              select 1 from webhooks p
              where not p.is_global and p.is_active and p.property_id = new.property_id
                and (p.event_names @> array['*'] or p.event_names @> array[new.event])))
      );
    if found then
        perform pg_notify('ota_inbox_webhooks', '');
    end if;
    return null;
end
$$;

-- The OTA console's wake-ups: what the property sent (the outbox) and webhook deliveries
-- changed. One NOTIFY per statement that inserted rows; the payload names the table group.
create function console_notify() returns trigger language plpgsql as $$
begin
    if exists (select 1 from inserted) then
        perform pg_notify('ota_inbox_console', tg_argv[0]);
    end if;
    return null;
end
$$;

create trigger ota_outbox_console_notify after insert on ota_outbox
    referencing new table as inserted
    for each statement execute function console_notify('outbox');
create trigger webhook_deliveries_console_notify after insert on webhook_deliveries
    referencing new table as inserted
    for each statement execute function console_notify('webhook_delivery');
create trigger webhook_attempts_console_notify after insert on webhook_attempts
    referencing new table as inserted
    for each statement execute function console_notify('webhook_delivery');

-- The console's delivery list, newest first.
create index webhook_deliveries_inserted_at_idx on webhook_deliveries (inserted_at, id);

-- One-time tokens of the chat iframe (§12): minted with an API key for one property, spent
-- once by GET /auth/exchange, valid 15 minutes. Only the SHA-256 of the token is stored.
create table one_time_tokens (
    id uuid primary key,
    token_hash bytea not null,
    api_key_id uuid not null references api_keys (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    property_id uuid not null references properties (id) on delete cascade,
    group_id uuid,
    username text not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    inserted_at timestamptz not null default now(),
    constraint one_time_tokens_token_hash_key unique (token_hash),
    constraint one_time_tokens_token_hash_length check (octet_length(token_hash) = 32)
);

create index one_time_tokens_expires_at_idx on one_time_tokens (expires_at);
create index one_time_tokens_api_key_id_idx on one_time_tokens (api_key_id);

-- Chat sessions: what an exchanged token becomes. The session acts as the token's user on its
-- one property; it lives while it is used (`last_used_at`, touched at most once a minute) and
-- dies with the API key that minted the token. Only the SHA-256 of the session token is stored.
create table chat_sessions (
    id uuid primary key,
    token_hash bytea not null,
    api_key_id uuid not null references api_keys (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    property_id uuid not null references properties (id) on delete cascade,
    username text not null,
    one_time_token_id uuid,
    inserted_at timestamptz not null default now(),
    last_used_at timestamptz not null default now(),
    constraint chat_sessions_token_hash_key unique (token_hash),
    constraint chat_sessions_token_hash_length check (octet_length(token_hash) = 32)
);

create index chat_sessions_last_used_at_idx on chat_sessions (last_used_at);
create index chat_sessions_api_key_id_idx on chat_sessions (api_key_id);
