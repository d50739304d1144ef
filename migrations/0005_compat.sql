-- What live Channex clients read beyond the documented examples: richer bookings, the OTA's
-- own thread ids and meta, thread lists in the order of their newest message, and test calls
-- of stored webhooks in the attempt log.

-- Bookings: the owner of the property (as on message_threads: a key's list is read from one
-- index), the booking's Channex-style unique id, and the attributes a PMS reads.
alter table bookings
    add column user_id uuid references users (id) on delete cascade,
    add column unique_id text,
    -- The OTA's name without case or punctuation ("Booking.com" and "BookingCom" are one
    -- OTA): what `filter[ota_name]` compares.
    add column ota_key text generated always as
        (lower(regexp_replace(ota_name, '[^A-Za-z0-9]', '', 'g'))) stored,
    add column currency text,
    -- A decimal with two places, as the wire shows it ("220.00").
    add column amount text,
    add column occupancy_adults integer not null default 1,
    add column occupancy_children integer not null default 0,
    add column occupancy_infants integer not null default 0,
    add column customer_mail text,
    add column customer_phone text,
    add column customer_country text,
    add column customer_language text,
    add column notes text,
    -- The OTA's id of the booking's conversation, given to its thread when it is created.
    add column ota_message_thread_id text,
    add constraint bookings_occupancy_check
        check (occupancy_adults >= 0 and occupancy_children >= 0 and occupancy_infants >= 0),
    add constraint bookings_amount_check check (amount ~ '^[0-9]{1,13}\.[0-9]{2}$');

-- `BDC-<code>`, `ABB-<code>`, ...: the OTA's Channex code and the reservation code.
create function bookings_unique_id(ota_name text, code text) returns text
    language sql immutable as $$
    select case lower(regexp_replace(ota_name, '[^A-Za-z0-9]', '', 'g'))
             when 'bookingcom' then 'BDC'
             when 'airbnb' then 'ABB'
             when 'expedia' then 'EXP'
             when 'agoda' then 'AGO'
             when 'vrbo' then 'VRB'
             when 'hostelworld' then 'HWL'
             when 'hotelbeds' then 'HBD'
             when 'despegar' then 'DDC'
             else 'OTA'
           end || '-' || code
$$;

update bookings b set user_id = p.user_id, unique_id = bookings_unique_id(b.ota_name, b.ota_reservation_code)
from properties p where p.id = b.property_id;

alter table bookings
    alter column user_id set not null,
    alter column unique_id set not null;

-- Rows written without the derived columns (bulk loads) get them here.
create function bookings_fill_derived() returns trigger language plpgsql as $$
begin
    if new.user_id is null then
        select user_id into new.user_id from properties where id = new.property_id;
    end if;
    if new.unique_id is null then
        new.unique_id := bookings_unique_id(new.ota_name, new.ota_reservation_code);
    end if;
    return new;
end
$$;

create trigger bookings_fill_derived before insert on bookings
    for each row when (new.user_id is null or new.unique_id is null)
    execute function bookings_fill_derived();

-- Booking lists (§8): newest first over a key's properties, one property's, by reservation
-- code, by OTA, by status, and by arrival or departure.
create index bookings_user_inserted_at_idx on bookings (user_id, inserted_at, id);
create index bookings_user_code_idx on bookings (user_id, ota_reservation_code, inserted_at, id);
create index bookings_user_ota_inserted_at_idx on bookings (user_id, ota_key, inserted_at, id);
create index bookings_user_status_inserted_at_idx on bookings (user_id, status, inserted_at, id);
create index bookings_user_arrival_idx on bookings (user_id, arrival_date, id);
create index bookings_user_departure_idx on bookings (user_id, departure_date, id);

-- Threads: the OTA's id of the conversation and its meta (Airbnb: listing and live-feed ids).
alter table message_threads
    add column ota_message_thread_id text,
    add column meta jsonb not null default '{}'::jsonb;

update message_threads t set
    ota_message_thread_id = case t.provider
        when 'AirBNB' then (1000000000 + floor(random() * 8999999999))::bigint::text
        else gen_random_uuid()::text
    end,
    meta = case t.provider
        when 'AirBNB' then jsonb_build_object(
            'listing_id', coalesce(
                (select m.meta #>> '{booking_details,listing_id}' from messages m
                 where m.message_thread_id = t.id and m.sender = 'system' order by m.seq limit 1),
                (10000000000 + floor(random() * 89999999999))::bigint::text),
            'live_feed_event_id', coalesce(
                (select m.meta ->> 'live_feed_event_id' from messages m
                 where m.message_thread_id = t.id and m.sender = 'system' order by m.seq limit 1),
                gen_random_uuid()::text))
        else '{}'::jsonb
    end;

-- Thread lists default to the newest message first. A thread without a message sorts as the
-- oldest: last when newest first, first when oldest first. `nulls first` lets one index serve
-- both directions (forward: asc nulls first; backward: desc nulls last).
drop index message_threads_user_last_received_idx;
create index message_threads_user_last_received_idx
    on message_threads (user_id, last_message_received_at nulls first, id) include (property_id);
-- One property's threads (the chat's list), in the same order.
create index message_threads_property_last_received_idx
    on message_threads (property_id, last_message_received_at nulls first, id);

-- The attempt log also records test calls of a stored webhook: they have no delivery (and no
-- event row), and say so.
alter table webhook_attempts
    alter column delivery_id drop not null,
    add column is_test boolean not null default false,
    -- The event name of a test call (`test`); deliveries take theirs from the event.
    add column event text,
    add constraint webhook_attempts_test_check
        check (is_test = (delivery_id is null) and (not is_test or event is not null));

-- Pruning of old test attempts (deliveries take theirs with them).
create index webhook_attempts_tests_idx on webhook_attempts (attempted_at) where delivery_id is null;
