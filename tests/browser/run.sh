#!/usr/bin/env bash
# Browser tests of the chat and the console: headless Chromium (Debian's package) driven by
# playwright-core.
#
#   tests/browser/run.sh                 run every test in tests/browser/tests/
#   tests/browser/run.sh FILE...         run some of them
#   tests/browser/run.sh --screenshots   re-make docs/img/chat-wide.png, chat-narrow.png, console.png
#   OTA_INBOX_BIN=target/debug/ota-inbox tests/browser/run.sh   use that binary, no release build
#
# Installs what is missing (chromium from apt, `npm ci`), builds the release binary, starts it in
# embedded mode (no DATABASE_URL) with a fresh DATA_DIR on a free port, starts the example PMS
# page on another origin (http://localhost:<port> vs the server's http://127.0.0.1:<port>), runs,
# stops everything, and exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=test
if [ "${1:-}" = "--screenshots" ]; then
  mode=screenshots
  shift
fi
# Paths given relative to where this was started.
files=()
for f in "$@"; do files+=("$(realpath "$f")"); done
if [ -n "${OTA_INBOX_BIN:-}" ]; then OTA_INBOX_BIN=$(realpath "$OTA_INBOX_BIN"); fi

step() { printf '\n==> %s\n' "$*"; }

step "browser test tools"
chromium=${CHROMIUM:-/usr/bin/chromium}
need=()
[ -x "$chromium" ] || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
export CHROMIUM=$chromium
# playwright-core never downloads a browser; this keeps any other tool from trying.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$here"
if ! node -e '
  const lock = require("./package-lock.json").packages["node_modules/playwright-core"].version;
  const have = require("./node_modules/playwright-core/package.json").version;
  process.exit(lock === have ? 0 : 1);' 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
"$chromium" --version 2>/dev/null

if [ -n "${OTA_INBOX_BIN:-}" ]; then
  # A binary of your own, e.g. target/debug/ota-inbox: debug builds read src/ui/assets/ from
  # disk, so edits to the pages need no rebuild.
  bin=$OTA_INBOX_BIN
else
  step "release build"
  (cd "$root" && cargo build --release --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/ota-inbox"
fi

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

step "server (embedded mode, fresh data directory)"
work=$(mktemp -d)
# The embedded cluster runs as the postgres user when this runs as root: it must reach the folder.
chmod 755 "$work"
# Made before the processes start, so that reading them never races their creation.
: >"$work/server.log"
: >"$work/host.log"
port=$(free_port)
admin_token="adm_browser_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
server=""
host=""
cleanup() {
  status=$?
  [ -n "$host" ] && kill "$host" 2>/dev/null || true
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
    echo "--- server log (last 40 lines)"
    tail -n 40 "$work/server.log"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
(
  unset DATABASE_URL
  export BIND_ADDR="127.0.0.1:$port" DATA_DIR="$work/data" ADMIN_TOKEN="$admin_token"
  export WEBHOOK_RETRY_SCHEDULE=1s,2s LOG_FORMAT=text RUST_LOG=${RUST_LOG:-warn,ota_inbox=info}
  exec "$bin" --demo
) >"$work/server.log" 2>&1 &
server=$!
key=""
for _ in $(seq 1 240); do
  key=$(awk '/demo API key:/ {print $4}' "$work/server.log")
  [ -n "$key" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.25
done
[ -n "$key" ] || { echo "the server printed no demo key"; cat "$work/server.log"; exit 1; }
echo "ota-inbox on http://127.0.0.1:$port"

step "example PMS page (another origin)"
node "$here/host.mjs" --server "http://127.0.0.1:$port" --key "$key" --port 0 >"$work/host.log" 2>&1 &
host=$!
host_url=""
for _ in $(seq 1 80); do
  host_url=$(awk '/example PMS page:/ {print $4}' "$work/host.log" | sed 's:/$::')
  [ -n "$host_url" ] && break
  kill -0 "$host" 2>/dev/null || { cat "$work/host.log"; exit 1; }
  sleep 0.25
done
[ -n "$host_url" ] || { echo "the host page did not start"; cat "$work/host.log"; exit 1; }
echo "example PMS page on $host_url"

export OTA_INBOX_URL="http://127.0.0.1:$port" HOST_URL="$host_url" ADMIN_TOKEN="$admin_token" KEY="$key"
if [ "$mode" = screenshots ]; then
  step "screenshots into docs/img/"
  node "$here/screenshots.mjs" "$root/docs/img"
else
  step "browser tests"
  if ((${#files[@]} == 0)); then files=("$here"/tests/*.test.mjs); fi
  node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
fi
