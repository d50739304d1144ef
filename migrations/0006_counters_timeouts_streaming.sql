-- Deadlock-free thread counters, attachments read in slices, uploads bound to their key,
-- webhook deliveries due from the moment they are written.

-- Thread counters. The trigger of 0003 moved a thread between states with four statements
-- (old state's rows first, then the new state's), so closing one thread while another thread
-- of the same user reopened locked the same two counter rows in opposite orders: a deadlock.
-- Now each counter table is written by one statement whose rows come in key order, and the
-- property counters always before the user counters. Every transaction therefore takes
-- counter-row locks in one global order, after the lock on its thread's row; no transaction
-- changes the state of more than one thread, so no cycle can form.
--
-- The other lock orders, checked: a property insert takes a key-share lock on its user (the
-- foreign key) and then updates that user's counters (0002), which key-share locks do not
-- block; installing or removing the Messages app updates one user row; a thread insert
-- key-share locks its property, user, channel and booking and then its counter rows.
create or replace function thread_counts_track() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into thread_counts as c (property_id, provider, is_closed, threads)
        values (new.property_id, new.provider, new.is_closed, 1)
        on conflict (property_id, provider, is_closed) do update set threads = c.threads + 1;
        insert into user_thread_counts as c (user_id, provider, is_closed, threads)
        values (new.user_id, new.provider, new.is_closed, 1)
        on conflict (user_id, provider, is_closed) do update set threads = c.threads + 1;
    elsif tg_op = 'DELETE' then
        update thread_counts set threads = threads - 1
        where property_id = old.property_id and provider = old.provider and is_closed = old.is_closed;
        update user_thread_counts set threads = threads - 1
        where user_id = old.user_id and provider = old.provider and is_closed = old.is_closed;
    else
        insert into thread_counts as c (property_id, provider, is_closed, threads)
        select property_id, provider, is_closed, sum(delta)
        from (values (old.property_id, old.provider, old.is_closed, -1),
                     (new.property_id, new.provider, new.is_closed, 1))
             as change (property_id, provider, is_closed, delta)
        group by property_id, provider, is_closed
        order by property_id, provider, is_closed
        on conflict (property_id, provider, is_closed) do update set threads = c.threads + excluded.threads;
        insert into user_thread_counts as c (user_id, provider, is_closed, threads)
        select user_id, provider, is_closed, sum(delta)
        from (values (old.user_id, old.provider, old.is_closed, -1),
                     (new.user_id, new.provider, new.is_closed, 1))
             as change (user_id, provider, is_closed, delta)
        group by user_id, provider, is_closed
        order by user_id, provider, is_closed
        on conflict (user_id, provider, is_closed) do update set threads = c.threads + excluded.threads;
    end if;
    return null;
end
$$;

-- Attachments are read a slice at a time (`substring`), which reads only the storage chunks
-- that hold the slice when the value is stored out of line and uncompressed. Most attachments
-- (images, PDFs) do not compress anyway. Rows written before keep their storage.
alter table attachments alter column data set storage external;

-- The credential (API key, or chat session) that uploaded an attachment: until the attachment
-- is sent, only that credential may download it. No foreign key: a chat session is a
-- credential too. Uploads from before this column have none, and wait to be sent.
alter table attachments add column uploader_key_id uuid;

-- A delivery is due from the moment its row is written, not from the start of the transaction
-- that writes it: claims read the queue from where they last found work (less a margin), so a
-- row must not turn up far behind that point when a slow transaction commits it.
alter table webhook_deliveries alter column next_attempt_at set default clock_timestamp();
