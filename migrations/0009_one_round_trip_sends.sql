-- Migration 0009: a message sent through the Messages API is one statement.
--
-- `ota_send_message` runs the whole send of `POST /message_threads/{id}/messages` and
-- `POST /bookings/{id}/messages` in the statement that calls it (autocommit: one round trip,
-- committed with it): the gates of §3 (404, 401, 403, 422 not_supported), the uploaded
-- attachment's claim, the message, the thread's counters and `last_message`, the OTA-outbox
-- record and the live events. A gate that fails, or an attachment that cannot be claimed, writes
-- nothing and says so in `o_outcome`. It mirrors `messaging::append` for a property message;
-- tests compare the two.

-- `attachments/<id>/<percent-encoded file name>`, as `views::attachment_url` writes it: every
-- byte of the UTF-8 name but the unreserved characters of RFC 3986 percent-encoded.
create function ota_attachment_url(attachment_id uuid, file_name text) returns text
language sql immutable strict parallel safe as $$
    select 'attachments/' || attachment_id::text || '/' || coalesce((
        select string_agg(
                 case when b between 48 and 57 or b between 65 and 90 or b between 97 and 122
                           or b in (45, 46, 95, 126)
                      then chr(b)
                      else '%' || upper(lpad(to_hex(b), 2, '0'))
                 end, '' order by i)
        from (select get_byte(raw, i) as b, i
              from (select convert_to(file_name, 'UTF8') as raw) r,
                   generate_series(0, length(raw) - 1) as i) bytes), '')
$$;

-- A timestamp as the wire writes it (`http::time::FORMAT`): UTC, no zone, six fraction digits.
create function ota_wire_time(at timestamptz) returns text
language sql immutable strict parallel safe as $$
    select to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
$$;

-- Outcomes: 'sent' (the message's columns follow), 'not_found', 'unauthorized', 'forbidden',
-- 'not_supported', 'attachment_invalid', and 'no_thread' (a booking without a thread and no
-- `p_new_thread`: `o_booking` holds what the caller needs to make one; nothing was written).
create function ota_send_message(
    p_thread_id uuid,            -- a send to a thread, or
    p_booking_id uuid,           -- a send to a booking's thread
    p_user_id uuid,              -- the key's user
    p_listed uuid[],             -- the key's properties (null: all of the user's)
    p_providers jsonb,           -- OTA key (lower-case alphanumerics) -> provider with messaging
    p_message text,
    p_attachment_id uuid,        -- an upload of the user to attach, or null
    p_lock_timeout_ms integer,   -- the longest wait for a lock, or null (the session's)
    p_budget_ms integer,         -- time left to the request: later, roll back (57014), or null
    p_new_thread jsonb           -- {title, ota_message_thread_id, meta}: the booking's new thread
)
returns table (
    o_outcome text,
    o_booking jsonb,
    o_id uuid,
    o_message_thread_id uuid,
    o_sender text,
    o_message text,
    o_user_id uuid,
    o_meta jsonb,
    o_ota_message_id text,
    o_inserted_at timestamptz,
    o_updated_at timestamptz,
    o_attachments jsonb
)
language plpgsql as $$
declare
    b record;
    t record;
    v_thread_id uuid;
    v_provider text;
    v_file_name text;
    v_name text;
    v_author jsonb;
    v_message_id uuid := gen_random_uuid();
    v_at timestamptz;
    v_urls jsonb := '[]'::jsonb;
    v_attachments jsonb := '[]'::jsonb;
    v_wire_at text;
begin
    -- A request answered 503 for its time limit must leave nothing: the statement ends in
    -- time or rolls back rather than commit after the answer.
    if p_lock_timeout_ms is not null then
        perform set_config('lock_timeout', greatest(p_lock_timeout_ms, 1)::text, true);
    end if;

    if p_booking_id is not null then
        select bk.id, bk.property_id, bk.channel_id, bk.user_id, bk.ota_key,
               bk.customer_name, bk.customer_surname, bk.ota_message_thread_id,
               th.id as thread_id,
               exists (select 1 from application_installations i
                       where i.property_id = bk.property_id
                         and i.application_code = 'channex_messages') as messages_app
          into b
          from bookings bk left join message_threads th on th.booking_id = bk.id
         where bk.id = p_booking_id;
        if not found then
            return query select 'not_found'::text, null::jsonb, null::uuid, null::uuid, null::text,
                null::text, null::uuid, null::jsonb, null::text, null::timestamptz,
                null::timestamptz, null::jsonb;
            return;
        end if;
        if b.user_id <> p_user_id or (p_listed is not null and b.property_id <> all (p_listed)) then
            o_outcome := 'unauthorized';
        elsif not b.messages_app then
            o_outcome := 'forbidden';
        else
            v_provider := p_providers ->> b.ota_key;
            if v_provider is null then
                o_outcome := 'not_supported';
            end if;
        end if;
        if o_outcome is not null then
            return next;
            return;
        end if;
        v_thread_id := b.thread_id;
        if v_thread_id is null then
            if p_new_thread is null then
                o_outcome := 'no_thread';
                o_booking := jsonb_build_object(
                    'property_id', b.property_id,
                    'provider', v_provider,
                    'customer_name', b.customer_name,
                    'customer_surname', b.customer_surname,
                    'ota_message_thread_id', b.ota_message_thread_id);
                return next;
                return;
            end if;
            -- `do update`: waits for, and answers, a thread another transaction is creating.
            insert into message_threads (id, property_id, user_id, channel_id, booking_id,
                   provider, title, ota_message_thread_id, meta, inserted_at, updated_at)
            select gen_random_uuid(), b.property_id, p.user_id, b.channel_id, b.id, v_provider,
                   p_new_thread ->> 'title', p_new_thread ->> 'ota_message_thread_id',
                   coalesce(p_new_thread -> 'meta', '{}'::jsonb), clock_timestamp(),
                   clock_timestamp()
              from properties p where p.id = b.property_id
            on conflict (booking_id) do update set booking_id = excluded.booking_id
            returning id into v_thread_id;
        end if;
    else
        -- The thread's gates, read without a lock: a refused request never waits for one.
        select th.user_id, th.property_id, th.provider,
               exists (select 1 from application_installations i
                       where i.property_id = th.property_id
                         and i.application_code = 'channex_messages') as messages_app
          into t
          from message_threads th where th.id = p_thread_id;
        if not found then
            o_outcome := 'not_found';
        elsif t.user_id <> p_user_id or (p_listed is not null and t.property_id <> all (p_listed)) then
            o_outcome := 'unauthorized';
        elsif not t.messages_app then
            o_outcome := 'forbidden';
        elsif not exists (select 1 from jsonb_each_text(p_providers) pr where pr.value = t.provider) then
            o_outcome := 'not_supported';
        end if;
        if o_outcome is not null then
            return next;
            return;
        end if;
        v_thread_id := p_thread_id;
    end if;

    -- Writers to one thread go one at a time: its counters and `last_message` lose no update.
    select th.id, th.property_id, th.user_id, th.booking_id, th.provider, th.is_closed
      into t
      from message_threads th where th.id = v_thread_id for update;
    if not found then
        o_outcome := 'not_found';
        return next;
        return;
    end if;

    if p_attachment_id is not null then
        select a.file_name into v_file_name
          from attachments a
         where a.id = p_attachment_id and a.user_id = p_user_id and a.message_id is null
           for update;
        if not found then
            o_outcome := 'attachment_invalid';
            return next;
            return;
        end if;
    end if;

    select coalesce(nullif(btrim(u.name), ''), u.email) into v_name
      from users u where u.id = p_user_id;
    if v_name is not null then
        v_author := jsonb_build_object('name', v_name, 'role', 'HOST');
    end if;

    v_at := clock_timestamp();
    v_wire_at := ota_wire_time(v_at);
    insert into messages (id, message_thread_id, sender, message, user_id, meta, ota_message_id,
                          inserted_at, updated_at)
    values (v_message_id, t.id, 'property', p_message, p_user_id, v_author, null, v_at, v_at);

    if p_attachment_id is not null then
        update attachments set message_id = v_message_id where id = p_attachment_id;
        v_urls := jsonb_build_array(ota_attachment_url(p_attachment_id, v_file_name));
        v_attachments := jsonb_build_array(
            jsonb_build_object('id', p_attachment_id, 'file_name', v_file_name));
    end if;

    update message_threads
       set message_count = message_count + 1,
           last_message = jsonb_build_object('attachments', v_urls, 'inserted_at', v_wire_at,
                                             'message', p_message, 'sender', 'property'),
           last_message_received_at = v_at, updated_at = v_at, is_closed = false
     where id = t.id;

    insert into ota_outbox (id, property_id, message_thread_id, message_id, kind, payload)
    values (gen_random_uuid(), t.property_id, t.id, v_message_id, 'message',
            jsonb_build_object('message_id', v_message_id, 'message', p_message,
                               'attachments', v_urls, 'provider', t.provider,
                               'booking_id', t.booking_id));

    -- A property message is a live event, not a webhook event (§10).
    insert into events (id, event, property_id, user_id, payload, webhook)
    values (gen_random_uuid(), 'message', t.property_id, t.user_id,
            jsonb_build_object('id', v_message_id, 'message', p_message, 'meta', v_author,
                               'sender', 'property', 'property_id', t.property_id,
                               'booking_id', t.booking_id, 'message_thread_id', t.id,
                               'live_feed_event_id', gen_random_uuid(),
                               'have_attachment', jsonb_array_length(v_urls) > 0,
                               'attachments', v_urls, 'ota_message_id', null,
                               'inserted_at', v_wire_at),
            false);
    if t.is_closed then
        insert into events (id, event, property_id, user_id, payload, webhook)
        values (gen_random_uuid(), 'message_thread_updated', t.property_id, t.user_id,
                jsonb_build_object('message_thread_id', t.id, 'property_id', t.property_id,
                                   'booking_id', t.booking_id, 'is_closed', false,
                                   'change', 'reopened'),
                false);
    end if;

    if p_budget_ms is not null
       and clock_timestamp() > statement_timestamp() + make_interval(secs => p_budget_ms / 1000.0) then
        raise exception 'the request ran out of time' using errcode = '57014';
    end if;

    return query select 'sent'::text, null::jsonb, v_message_id, t.id, 'property'::text,
        p_message, p_user_id, v_author, null::text, v_at, v_at, v_attachments;
end
$$;
