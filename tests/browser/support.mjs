// Shared parts of the browser tests: the browser, API calls for fixtures, and the chat opened
// the way a PMS opens it (an iframe on another origin with a fresh one-time token).
// run.sh sets OTA_INBOX_URL, HOST_URL, ADMIN_TOKEN and KEY.

import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const SERVER = need('OTA_INBOX_URL');
export const HOST = need('HOST_URL');
export const ADMIN_TOKEN = need('ADMIN_TOKEN');
export const KEY = need('KEY');
export const SERVER_ORIGIN = new URL(SERVER).origin;

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through tests/browser/run.sh`);
  return value;
}

/** Headless Debian Chromium: never a downloaded browser. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Third-party cookies blocked, as in the browsers PMS users have.
      '--test-third-party-cookie-phaseout',
    ],
  });
}

async function call(url, { method = 'GET', headers = {}, body } = {}) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { raw: text };
  }
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 500)}`);
  return json;
}

/** The admin API (the OTA side). */
export function admin(method, path, body) {
  return call(`${SERVER}/admin${path}`, { method, body, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
}

/** The Messages API with a PMS key. */
export function api(key, method, path, body) {
  return call(`${SERVER}/api/v1${path}`, { method, body, headers: { 'user-api-key': key } });
}

/** A PMS account of its own (user, key, property with the Messages app), known to the host page. */
export async function newTenant(title = 'Test Hotel') {
  const suffix = randomUUID().slice(0, 8);
  const user = (await admin('POST', '/users', { user: { email: `pms-${suffix}@example.test`, name: `PMS ${suffix}` } })).data;
  const apiKey = (await admin('POST', '/api_keys', { api_key: { user_id: user.id } })).data;
  const key = apiKey.attributes.key;
  const property = (await api(key, 'POST', '/properties', { property: { title: `${title} ${suffix}`, currency: 'EUR' } })).data;
  await api(key, 'POST', '/applications/install', {
    application_installation: { property_id: property.id, application_code: 'channex_messages' },
  });
  await call(`${HOST}/tenants`, { method: 'POST', body: { key, property_id: property.id } });
  return { key, keyId: apiKey.id, userId: user.id, propertyId: property.id, title: property.attributes.title };
}

function dateIn(days) {
  return new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);
}

/** A booking with a first guest message (so it has a thread); answers `{booking, threadId}`. */
export async function newConversation(tenant, { ota = 'BookingCom', name = 'Ana', surname = 'Silva', text = 'Hello, is breakfast included?' } = {}) {
  const booking = (await admin('POST', '/bookings', {
    booking: {
      property_id: tenant.propertyId,
      ota_name: ota,
      arrival_date: dateIn(5),
      departure_date: dateIn(8),
      customer: { name, surname },
    },
  })).data;
  const message = (await admin('POST', `/bookings/${booking.id}/guest_messages`, { message: { message: text } })).data;
  return { booking, threadId: message.relationships.message_thread.data.id };
}

/** A message from the guest, as the OTA delivers it. */
export async function guestWrites(threadId, text, extra = {}) {
  return (await admin('POST', `/message_threads/${threadId}/guest_messages`, { message: { message: text, ...extra } })).data;
}

/** An Airbnb inquiry (thread without booking). */
export async function newInquiry(tenant, { guest = 'Andrew', text } = {}) {
  return (await admin('POST', '/inquiries', {
    inquiry: {
      property_id: tenant.propertyId,
      guest_name: guest,
      checkin_date: dateIn(20),
      checkout_date: dateIn(23),
      number_of_adults: 2,
      number_of_children: 1,
      listing_name: 'Sea-view flat',
      expected_payout_amount_accurate: '420.00',
      currency: 'EUR',
      message: text,
    },
  })).data;
}

/**
 * Opens the example PMS page (another origin) with the chat iframe of `tenant` (null: the demo).
 * `options`: width/height of the frame, lng, thread, show_booking, hide_attach, viewport.
 * Storage and cookies throw inside the chat frame, so the chat cannot depend on them.
 * Answers `{page, context, chat (the frame), problems()}`.
 */
export async function openChat(browser, tenant, options = {}) {
  const context = await browser.newContext({ viewport: options.viewport || { width: 1280, height: 860 } });
  await context.addInitScript(({ origin }) => {
    if (location.origin !== origin) return;
    const blocked = () => {
      throw new DOMException('blocked in a third-party frame', 'SecurityError');
    };
    for (const name of ['localStorage', 'sessionStorage', 'indexedDB']) {
      Object.defineProperty(window, name, { get: blocked, configurable: false });
    }
    Object.defineProperty(Document.prototype, 'cookie', { get: blocked, set: blocked, configurable: false });
    window.__problems = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__problems.push(`CSP ${e.violatedDirective} ${e.blockedURI}`);
    });
    window.addEventListener('error', (e) => window.__problems.push(`error ${e.message}`));
    window.alert = window.confirm = window.prompt = (m) => window.__problems.push(`dialog ${m}`);
  }, { origin: SERVER_ORIGIN });
  context.setDefaultTimeout(10000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`pageerror ${err.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  const params = new URLSearchParams();
  if (tenant) params.set('property', tenant.propertyId);
  for (const key of ['width', 'height', 'lng', 'thread', 'show_booking', 'hide_attach']) {
    if (options[key] !== undefined) params.set(key, String(options[key]));
  }
  await page.goto(`${HOST}/?${params}`);
  const chat = await frameOf(page);
  return {
    page,
    context,
    chat,
    /** Page errors, dialogs, CSP violations and script errors seen so far inside the chat. */
    async problems() {
      const inFrame = await chat.evaluate(() => window.__problems || []).catch(() => []);
      return [...problems, ...inFrame];
    },
  };
}

/** The chat frame of the host page, once its page has loaded. */
export async function frameOf(page) {
  const handle = await page.waitForSelector('iframe#chat');
  const frame = await handle.contentFrame();
  await frame.waitForLoadState('domcontentloaded');
  return frame;
}

/** Waits until `fn()` is truthy (polling), or fails with `message`. */
export async function eventually(fn, message, timeout = 5000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) assert.fail(`${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A real PNG of `w`×`h` drawn by the browser, as base64. */
export async function pngBase64(page, w = 64, h = 48, color = '#2f6fde') {
  return page.evaluate(async ({ w, h, color }) => {
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext('2d');
    g.fillStyle = color;
    g.fillRect(0, 0, w, h);
    g.fillStyle = '#fff';
    g.fillRect(w / 4, h / 4, w / 2, h / 2);
    return canvas.toDataURL('image/png').split(',')[1];
  }, { w, h, color });
}
