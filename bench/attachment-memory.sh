#!/usr/bin/env bash
# Server memory while a 10 MiB attachment is refused 32 times at once, then downloaded 32
# times at once: resident memory (VmRSS) and its peak (VmHWM) of the server process after each
# round, and how long a refusal takes.
#
#   DATABASE_URL=postgres://user@127.0.0.1:5432/postgres bench/attachment-memory.sh [binary]
#
# The binary defaults to target/release/ota-inbox (cargo build --release). A scratch database
# is created next to DATABASE_URL's and dropped at the end. Needs curl, jq, psql, base64.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/ota-inbox}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server (a scratch database is made there)}"
SIZE=$((10 * 1024 * 1024))
PARALLEL=32

work=$(mktemp -d)
scratch="ota_inbox_memory_$$"
psql -q "$DATABASE_URL" -c "create database $scratch"
url="${DATABASE_URL%/*}/$scratch"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  psql -q "$DATABASE_URL" -c "drop database if exists $scratch with (force)" || true
  rm -rf "$work"
}
trap cleanup EXIT

ADMIN_TOKEN=memory-bench-admin-token
DATABASE_URL="$url" BIND_ADDR=127.0.0.1:0 ADMIN_TOKEN=$ADMIN_TOKEN DEMO=false DATA_DIR="$work" \
  RUST_LOG=warn "$BIN" >"$work/out" 2>"$work/err" &
server=$!
for _ in $(seq 1 200); do
  grep -q "listening on" "$work/out" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/err"; exit 1; }
  sleep 0.1
done
BASE=$(awk '/listening on/ {print $5}' "$work/out")

admin() { curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' "$@"; }
api() { curl -fsS -H "user-api-key: $1" -H 'Content-Type: application/json' "${@:2}"; }
new_key() {
  local user
  user=$(admin -d "{\"user\": {\"email\": \"$1@example.com\"}}" "$BASE/admin/users" | jq -r .data.id)
  admin -d "{\"api_key\": {\"user_id\": \"$user\"}}" "$BASE/admin/api_keys" | jq -r .data.attributes.key
}
KEY=$(new_key owner)
OTHER=$(new_key stranger)
PROPERTY=$(api "$KEY" -d '{"property": {"title": "Memory"}}' "$BASE/api/v1/properties" | jq -r .data.id)
api "$KEY" -d "{\"application_installation\": {\"property_id\": \"$PROPERTY\", \"application_code\": \"channex_messages\"}}" \
  "$BASE/api/v1/applications/install" >/dev/null
BOOKING=$(admin -d "{\"booking\": {\"property_id\": \"$PROPERTY\", \"ota_name\": \"BookingCom\",
  \"arrival_date\": \"2030-01-01\", \"departure_date\": \"2030-01-02\", \"customer\": {\"name\": \"Guest\"}}}" \
  "$BASE/admin/bookings" | jq -r .data.id)
head -c "$SIZE" /dev/urandom >"$work/file.bin"
printf '{"attachment": {"file": "%s", "file_name": "big.bin", "file_type": "application/octet-stream"}}' \
  "$(base64 -w0 <"$work/file.bin")" >"$work/upload.json"
ATTACHMENT=$(api "$KEY" --data-binary @"$work/upload.json" "$BASE/api/v1/attachments" | jq -r .data.id)
PATH_URL=$(api "$KEY" -d "{\"message\": {\"message\": \"file\", \"attachment_id\": \"$ATTACHMENT\"}}" \
  "$BASE/api/v1/bookings/$BOOKING/messages" | jq -r '.data.attributes.attachments[0]')

memory() {
  awk -v label="$1" '/VmRSS/ {rss=$2} /VmHWM/ {hwm=$2}
    END {printf "%-34s VmRSS %6.1f MiB   VmHWM %6.1f MiB\n", label, rss/1024, hwm/1024}' \
    "/proc/$server/status"
}
round() {
  seq "$PARALLEL" | xargs -P "$PARALLEL" -I{} \
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "user-api-key: $1" "$BASE/api/v1/$PATH_URL" \
    >"$work/round"
  sort "$work/round" | awk '{codes[$1]++; t+=$2; if ($2>max) max=$2}
    END {for (c in codes) printf "  %d x %s,", codes[c], c; printf " mean %.0f ms, max %.0f ms\n", t/NR*1000, max*1000}'
}

echo "binary: $BIN; attachment: $SIZE bytes; $PARALLEL requests at once"
memory "after setup"
echo "$PARALLEL refused downloads (another user's key):"
round "$OTHER"
memory "after the refusals"
echo "$PARALLEL allowed downloads:"
round "$KEY"
memory "after the downloads"
