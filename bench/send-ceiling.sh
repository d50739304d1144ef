#!/usr/bin/env bash
# What PostgreSQL alone can do for a send, with no HTTP server in front: pgbench calls
# `ota_send_message` (the whole send: gates, message, counters, outbox record, live event) on
# 1,000 threads picked at random, then runs the bench's reference insert, with the same clients,
# on the same database. The ratio of the two is the best a send can reach against the
# insert-and-commit reference, whatever the server does.
#
#   DATABASE_URL=postgres://user@127.0.0.1:5432/ota_inbox_bench bench/send-ceiling.sh [seconds]
#
# DATABASE_URL names a database loaded by `cargo run --release --example bench` (with the
# bench's DATABASE_URL pointing at the same server, or the bench's embedded cluster started by
# hand). Each run adds messages to it. Needs pgbench and psql.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to the bench database}"
SECONDS_EACH=${1:-10}
CLIENTS=${CLIENTS:-20}
work=$(mktemp -d)
trap 'psql -q "$DATABASE_URL" -c "drop table if exists bench_send_targets" >/dev/null; rm -rf "$work"' EXIT

psql -q "$DATABASE_URL" <<'SQL'
drop table if exists bench_send_targets;
create table bench_send_targets as
    select row_number() over () as n, t.id, t.user_id
    from (select id, user_id from message_threads where provider = 'BookingCom' limit 1000) t;
create table if not exists bench_reference_writes (
    id uuid primary key, body text not null, inserted_at timestamptz not null default now());
SQL

cat > "$work/send.sql" <<'SQL'
\set n random(1, 1000)
select o_outcome from bench_send_targets t,
    ota_send_message(t.id, null, t.user_id, null, '{"bookingcom": "BookingCom"}'::jsonb,
                     'Thank you, we look forward to your stay.', null, null, null, null)
where t.n = :n;
SQL
cat > "$work/insert.sql" <<'SQL'
insert into bench_reference_writes (id, body)
values (gen_random_uuid(), 'Thank you, we look forward to your stay.');
SQL

run() {
  pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" -f "$1" "$DATABASE_URL" 2>&1 \
    | awk -F' = ' '/^tps/ {split($2, a, " "); print a[1]}'
}
send=$(run "$work/send.sql")
insert=$(run "$work/insert.sql")
printf 'ota_send_message: %.0f/s\nreference insert: %.0f/s\nratio: %.2f\n' \
  "$send" "$insert" "$(echo "$send / $insert" | bc -l)"
