-- Webhooks (§10): the collection, one delivery per (event, webhook), and the log of attempts.

create table webhooks (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    property_id uuid references properties (id) on delete cascade,
    callback_url text not null,
    -- As the client wrote it (`*` or names separated by `;` or `,`)...
    event_mask text not null,
    -- ...and parsed, for matching: `{*}` or the event names.
    event_names text[] not null,
    headers jsonb not null default '{}',
    request_params jsonb not null default '{}',
    is_active boolean not null default false,
    send_data boolean not null default false,
    is_global boolean not null default false,
    protected boolean not null default false,
    -- Kept as given: it must be read back to sign. Never sent in a response.
    signing_secret text,
    inserted_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint webhooks_scope_check check (property_id is not null or is_global),
    constraint webhooks_event_names_check check (cardinality(event_names) > 0)
);

-- Lists: a user's webhooks, oldest first.
create index webhooks_user_inserted_at_idx on webhooks (user_id, inserted_at, id);
-- Fan-out: the property webhooks of a property, the global webhooks of a user.
create index webhooks_property_idx on webhooks (property_id) where not is_global;
create index webhooks_global_user_idx on webhooks (user_id) where is_global;

-- One row per (event, webhook): the unit of work of the delivery worker. Its id is the
-- `X-Ota-Inbox-Delivery` header, the same on every attempt, so receivers can deduplicate.
create table webhook_deliveries (
    id uuid primary key,
    event_id uuid not null references events (id) on delete cascade,
    webhook_id uuid not null references webhooks (id) on delete cascade,
    -- pending: waiting for its next attempt (or being attempted, see claim_token);
    -- delivered: a 2xx answer; failed: a final non-2xx answer or retries exhausted;
    -- cancelled: the webhook was inactive when the attempt came.
    state text not null default 'pending',
    attempts integer not null default 0,
    -- When the next attempt is due. While a worker holds the delivery it is the end of the
    -- worker's lease: a worker that dies mid-attempt leaves a delivery that falls due again.
    next_attempt_at timestamptz not null default now(),
    -- Set by the worker that holds the delivery; only that worker may record the outcome.
    claim_token uuid,
    last_status integer,
    last_error text,
    inserted_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint webhook_deliveries_state_check
        check (state in ('pending', 'delivered', 'failed', 'cancelled')),
    constraint webhook_deliveries_event_webhook_key unique (event_id, webhook_id)
);

-- The worker's queue: due pending deliveries, oldest due first.
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at)
    where state = 'pending';
create index webhook_deliveries_webhook_id_idx on webhook_deliveries (webhook_id);
-- Pruning of old finished deliveries (their attempts go with them).
create index webhook_deliveries_finished_idx on webhook_deliveries (updated_at)
    where state <> 'pending';

-- One row per attempt, for `GET /api/v1/webhooks/{id}/deliveries`.
create table webhook_attempts (
    id uuid primary key,
    delivery_id uuid not null references webhook_deliveries (id) on delete cascade,
    webhook_id uuid not null references webhooks (id) on delete cascade,
    attempt integer not null,
    attempted_at timestamptz not null,
    duration_ms integer not null,
    status_code integer,
    error text,
    -- delivered, retry or failed
    result text not null,
    -- When the delivery will be tried again; null when this attempt ended it.
    next_attempt_at timestamptz,
    constraint webhook_attempts_result_check check (result in ('delivered', 'retry', 'failed'))
);

create index webhook_attempts_webhook_attempted_at_idx
    on webhook_attempts (webhook_id, attempted_at, id);
create index webhook_attempts_delivery_id_idx on webhook_attempts (delivery_id);

-- Fan-out in the event's own transaction: an event and its deliveries commit together, so a
-- crash can lose neither. A property webhook that matches suppresses the user's global ones
-- for that property (§10). Then one NOTIFY wakes the workers (delivered at commit).
create function webhooks_fan_out() returns trigger language plpgsql as $$
begin
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

create trigger events_webhooks_fan_out after insert on events
    for each row execute function webhooks_fan_out();
