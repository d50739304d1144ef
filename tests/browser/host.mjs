// An example PMS page on another origin that embeds the chat the way a PMS does: its backend
// asks ota-inbox for a one-time token with the PMS's API key, and the page puts the exchange
// URL into an iframe. The browser tests drive it; a developer can run it by hand:
//
//   node tests/browser/host.mjs --server http://127.0.0.1:8080 --key oik_… [--port 8090]
//
// then open http://localhost:8090/ (localhost, not 127.0.0.1: another site than the server).
// Query parameters of the page: property, thread, lng, width, height, show_booking (1/0),
// hide_attach (1/0). POST /tenants {"key", "property_id"} registers another PMS account (tests);
// POST /webhook answers 200 (a webhook receiver for the console's delivery list).

import http from 'node:http';
import { pathToFileURL } from 'node:url';

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function json(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { raw: text };
  }
}

/**
 * Starts the host page. `server`: base URL of ota-inbox; `key`: the default tenant's API key.
 * Answers `{url, port, close(), tenants}`.
 */
export async function startHost({ server, key, port = 0, hostname = 'localhost' }) {
  // property id → API key of the PMS account that owns it
  const tenants = new Map();
  let defaultProperty = null;

  if (key) {
    const res = await fetch(`${server}/api/v1/properties`, { headers: { 'user-api-key': key } });
    const body = await json(res);
    if (!res.ok || !body.data?.length) throw new Error(`no property for the default key: ${res.status}`);
    defaultProperty = body.data[0].id;
    tenants.set(defaultProperty, key);
  }

  async function oneTimeToken(propertyId, username) {
    const apiKey = tenants.get(propertyId);
    if (!apiKey) throw new Error(`unknown property ${propertyId}`);
    const res = await fetch(`${server}/api/v1/auth/one_time_token`, {
      method: 'POST',
      headers: { 'user-api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ one_time_token: { property_id: propertyId, username } }),
    });
    const body = await json(res);
    if (!res.ok) throw new Error(`one_time_token: ${res.status} ${JSON.stringify(body)}`);
    return body.data.token;
  }

  function chatUrl(token, propertyId, q) {
    const params = new URLSearchParams({
      oauth_session_key: token,
      app_mode: 'headless',
      redirect_to: q.get('thread') ? `/messages/${q.get('thread')}` : '/messages',
      property_id: propertyId,
    });
    if (q.get('lng')) params.set('lng', q.get('lng'));
    if (q.get('show_booking') !== '0') params.set('messages_show_booking', 'true');
    if (q.get('hide_attach') === '1') params.set('hide_messages_attach_btn', 'true');
    return `${server}/auth/exchange?${params}`;
  }

  function page(src, q) {
    const width = Number(q.get('width')) || 1100;
    const height = Number(q.get('height')) || 700;
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example PMS</title>
<style>
  body { margin: 0; font: 14px system-ui, sans-serif; background: #eef1f4; }
  header { display: flex; gap: 12px; align-items: center; padding: 10px 16px; background: #1d2630; color: #fff; }
  #unread { background: #e5484d; border-radius: 10px; padding: 0 8px; font-weight: 700; }
  #unread:empty { display: none; }
  main { padding: 12px 16px; }
  iframe { border: 1px solid #c9d1da; border-radius: 8px; background: #fff; display: block; }
</style></head>
<body>
<header><strong>Example PMS</strong><span>Guest messages</span><span id="unread"></span></header>
<main>
<iframe id="chat" title="Guest messages" src="${escapeHtml(src)}" width="${width}" height="${height}"></iframe>
</main>
<script>
  const origin = ${JSON.stringify(new URL(server).origin)};
  window.addEventListener('message', (e) => {
    if (e.origin !== origin || !e.data || e.data.type !== 'ota-inbox:unread') return;
    document.getElementById('unread').textContent = e.data.count ? String(e.data.count) : '';
  });
</script>
</body></html>`;
  }

  const srv = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://host');
    try {
      if (req.method === 'POST' && url.pathname === '/tenants') {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
        tenants.set(body.property_id, body.key);
        res.writeHead(204);
        return res.end();
      }
      if (req.method === 'POST' && url.pathname === '/webhook') {
        // The PMS's webhook receiver: takes every delivery.
        for await (const chunk of req) void chunk;
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"ok":true}');
      }
      if (req.method === 'GET' && url.pathname === '/') {
        const propertyId = url.searchParams.get('property') || defaultProperty;
        const token = await oneTimeToken(propertyId, url.searchParams.get('username') || 'Front desk');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        return res.end(page(chatUrl(token, propertyId, url.searchParams), url.searchParams));
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err.message || err));
    }
  });
  await new Promise((resolve) => srv.listen(port, hostname === 'localhost' ? '127.0.0.1' : hostname, resolve));
  const actual = srv.address().port;
  return {
    url: `http://${hostname}:${actual}`,
    port: actual,
    tenants,
    close: () => new Promise((resolve) => srv.close(resolve)),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = new Map();
  for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
  const server = args.get('server') || process.env.OTA_INBOX_URL || 'http://127.0.0.1:8080';
  const key = args.get('key') || process.env.KEY;
  if (!key) {
    console.error('usage: node host.mjs --server http://127.0.0.1:8080 --key oik_… [--port 8090]');
    process.exit(2);
  }
  const host = await startHost({ server, key, port: args.has('port') ? Number(args.get('port')) : 8090 });
  console.log(`example PMS page: ${host.url}/`);
}
