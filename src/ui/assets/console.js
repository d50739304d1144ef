// The OTA console: plays Booking.com and Airbnb through the admin API, and shows live what the
// property sends back (the outbox), every webhook delivery with its attempts, and the event log.

import { client, ApiError, query } from './api.js';
import { openStream } from './stream.js';
import { h, parseTime, replace } from './dom.js';
import { ConsoleConversation } from './console-conversation.js';
import { loadDeliveries as deliveries, loadOutbox as outbox, logEvent } from './console-feeds.js';

const $ = (id) => document.getElementById(id);
const KEY = 'ota-inbox-admin-token';

const store = {
  get() {
    try {
      return sessionStorage.getItem(KEY);
    } catch {
      return null;
    }
  },
  set(token) {
    try {
      sessionStorage.setItem(KEY, token);
    } catch {
      // Storage blocked: the token stays in memory only.
    }
  },
  clear() {
    try {
      sessionStorage.removeItem(KEY);
    } catch {
      // Nothing kept.
    }
  },
};

const ctx = {
  token: null,
  api: null,
  users: [],
  properties: [],
  userId: null,
  propertyId: null,
  threads: [],
  bookings: [],
  selected: null, // {thread: id} or {booking: id}
  notify,
  select: (sel) => select(sel),
  reloadLists: () => reloadLists(),
  time,
};

let stream = null;
let conversation = null;

/** Local date and time of an API timestamp. */
function time(value) {
  const d = parseTime(value);
  return d ? d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '';
}

function notify(message, err) {
  const box = $('notice');
  const detail = err instanceof ApiError ? err.detailLines().join(' · ') : (err?.message || '');
  replace(box, h('span', { text: message }), detail ? h('span', { class: 'detail', text: ` ${detail}` }) : null,
    h('button', { type: 'button', class: 'link', text: 'dismiss', on: { click: () => { box.hidden = true; } } }));
  box.hidden = false;
}

function showLogin(message) {
  if (stream) stream.close();
  stream = null;
  $('app').hidden = true;
  $('login').hidden = false;
  const err = $('login-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('token').focus();
}

function signOut(message) {
  ctx.token = null;
  store.clear();
  showLogin(message);
}

async function start(token, remember) {
  ctx.token = token;
  ctx.api = client({
    base: '',
    token: () => ctx.token,
    onUnauthorized: () => signOut('The admin token was refused.'),
  });
  try {
    ctx.users = await all('/admin/users');
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) signOut('The admin API is off on this server (no ADMIN_TOKEN set).');
    else if (!(err instanceof ApiError && err.status === 401)) showLogin(`The server did not answer: ${err.message}`);
    return;
  }
  if (remember) store.set(token);
  $('login').hidden = true;
  $('app').hidden = false;
  conversation = new ConsoleConversation(ctx, $('conversation'));
  fillUsers();
  const wanted = new URLSearchParams(location.hash.slice(1));
  const property = wanted.get('property');
  await loadProperties(property);
  const thread = wanted.get('thread');
  if (thread) select({ thread });
  startStream();
}

function fillUsers() {
  const sel = $('user');
  replace(sel, ctx.users.map((u) => h('option', { value: u.id, text: u.attributes.name ? `${u.attributes.name} <${u.attributes.email}>` : u.attributes.email })));
  ctx.userId = sel.value || null;
}

function ownerOf(property) {
  return property.relationships?.user?.data?.id ?? property.attributes?.user_id ?? null;
}

/** Every page of an admin list (up to 2,000 rows: enough for a staging console). */
async function all(path) {
  const rows = [];
  for (let page = 1; page <= 20; page += 1) {
    const res = await ctx.api.get(`${path}${query({ 'pagination[page]': page, 'pagination[limit]': 100 })}`);
    rows.push(...res.data);
    if (!res.data.length || rows.length >= (res.meta?.total ?? 0)) break;
  }
  return rows;
}

async function loadProperties(wanted) {
  ctx.properties = await all('/admin/properties');
  if (wanted) {
    const p = ctx.properties.find((x) => x.id === wanted);
    if (p && ownerOf(p)) {
      ctx.userId = ownerOf(p);
      $('user').value = ctx.userId;
    }
  }
  fillProperties(wanted);
}

function fillProperties(wanted) {
  const sel = $('property');
  const mine = ctx.properties.filter((p) => !ctx.userId || !ownerOf(p) || ownerOf(p) === ctx.userId);
  replace(sel, mine.map((p) => h('option', {
    value: p.id,
    text: p.attributes.messages_app === false ? `${p.attributes.title} (no Messages app)` : p.attributes.title,
  })));
  if (wanted && mine.some((p) => p.id === wanted)) sel.value = wanted;
  setProperty(sel.value || null);
}

function setProperty(id) {
  ctx.propertyId = id;
  ctx.selected = null;
  conversation.clear();
  writeHash();
  reloadLists();
}

function writeHash() {
  const params = new URLSearchParams();
  if (ctx.propertyId) params.set('property', ctx.propertyId);
  if (ctx.selected?.thread) params.set('thread', ctx.selected.thread);
  history.replaceState(null, '', `#${params}`);
}

const timers = new Map();

/** Runs `fn` once after a burst of calls with the same name. */
function schedule(name, fn, delay = 120) {
  if (timers.has(name)) return;
  timers.set(name, setTimeout(() => {
    timers.delete(name);
    fn();
  }, delay));
}

const loadOutbox = () => outbox(ctx);
const loadDeliveries = () => deliveries(ctx);

function reloadLists() {
  loadThreads();
  loadBookings();
  loadOutbox();
  loadDeliveries();
}

function byProperty(extra = {}) {
  return query({ 'filter[property_id]': ctx.propertyId, 'pagination[limit]': 100, ...extra });
}

async function loadThreads() {
  if (!ctx.propertyId) return renderThreads([]);
  try {
    const res = await ctx.api.get(`/admin/message_threads${byProperty()}`);
    ctx.threads = res.data;
    renderThreads(ctx.threads);
    conversation.threadsChanged();
  } catch (err) {
    notify('Could not load the conversations.', err);
  }
}

async function loadBookings() {
  if (!ctx.propertyId) return renderBookings([]);
  try {
    const res = await ctx.api.get(`/admin/bookings${byProperty()}`);
    ctx.bookings = res.data;
    renderBookings(ctx.bookings);
    conversation.threadsChanged();
  } catch (err) {
    notify('Could not load the bookings.', err);
  }
}

const PROVIDERS = { BookingCom: 'Booking.com', AirBNB: 'Airbnb', Airbnb: 'Airbnb' };

function badge(provider) {
  const cls = provider === 'BookingCom' ? 'booking' : /air/i.test(provider || '') ? 'airbnb' : 'other';
  return h('span', { class: `badge ${cls}`, text: PROVIDERS[provider] || provider || '' });
}

function renderThreads(threads) {
  const current = ctx.selected?.thread;
  replace($('threads'), threads.map((t) => {
    const a = t.attributes;
    return h('li', {},
      h('button', {
        type: 'button',
        class: `item${t.id === current ? ' is-selected' : ''}`,
        dataset: { threadId: t.id },
        on: { click: () => select({ thread: t.id }) },
      },
      h('span', { class: 'item-top' }, h('strong', { text: a.title }), badge(a.provider),
        a.is_closed ? h('span', { class: 'badge closed', text: 'closed' }) : null,
        t.relationships?.booking ? null : h('span', { class: 'badge', text: 'inquiry' })),
      h('span', { class: 'item-sub', text: a.last_message ? `${a.last_message.sender}: ${a.last_message.message || '(attachment)'}` : '' })));
  }));
  $('threads-empty').hidden = threads.length > 0;
}

function renderBookings(bookings) {
  const current = ctx.selected?.booking;
  replace($('bookings'), bookings.map((b) => {
    const a = b.attributes;
    const guest = [a.customer?.name, a.customer?.surname].filter(Boolean).join(' ');
    const thread = b.relationships?.message_thread?.data?.id;
    return h('li', {},
      h('button', {
        type: 'button',
        class: `item${b.id === current ? ' is-selected' : ''}`,
        dataset: { bookingId: b.id },
        on: { click: () => select(thread ? { thread } : { booking: b.id }) },
      },
      h('span', { class: 'item-top' }, h('strong', { text: guest }), badge(a.ota_name),
        a.status === 'cancelled' ? h('span', { class: 'badge closed', text: 'cancelled' }) : null),
      h('span', { class: 'item-sub', text: `${a.ota_reservation_code} · ${a.arrival_date} → ${a.departure_date}${thread ? '' : ' · no conversation yet'}` })));
  }));
  $('bookings-empty').hidden = bookings.length > 0;
}

function select(sel) {
  ctx.selected = sel;
  writeHash();
  renderThreads(ctx.threads);
  renderBookings(ctx.bookings);
  conversation.show(sel);
}

function onEvent(event) {
  if (event.type === 'outbox') return schedule('outbox', loadOutbox);
  if (event.type === 'webhook_delivery') return schedule('deliveries', loadDeliveries);
  let data = {};
  try {
    data = JSON.parse(event.data || '{}') || {};
  } catch {
    return;
  }
  if (data.property_id && data.property_id !== ctx.propertyId) return;
  logEvent(ctx, event, data);
  schedule('threads', loadThreads);
  if (event.type === 'message_thread_booking_assigned' || event.type === 'inquiry') schedule('bookings', loadBookings);
  if (data.message_thread_id && data.message_thread_id === ctx.selected?.thread) conversation.refresh();
}

function startStream() {
  const live = $('live');
  stream = openStream({
    url: '/admin/events/stream',
    headers: () => ({ Authorization: `Bearer ${ctx.token}` }),
    onEvent,
    onState: (state) => {
      live.dataset.state = state;
      live.textContent = state === 'open' ? 'live' : state === 'retrying' ? 'reconnecting…' : state;
      // Hints carry no id: after a reconnect, read the lists again.
      if (state === 'open') schedule('lists', reloadLists, 50);
    },
    onFatal: (status) => {
      if (status === 401) signOut('The admin token was refused.');
    },
  });
}

function dateIn(days) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function setup() {
  for (const [form, from, to] of [['booking-form', 'arrival_date', 'departure_date'], ['inquiry-form', 'checkin_date', 'checkout_date']]) {
    $(form).elements[from].value = dateIn(7);
    $(form).elements[to].value = dateIn(10);
  }
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    $('token').value = '';
    if (token) start(token, $('remember').checked);
  });
  $('logout').addEventListener('click', () => signOut(''));
  $('user').addEventListener('change', (e) => {
    ctx.userId = e.target.value;
    fillProperties(null);
  });
  $('property').addEventListener('change', (e) => setProperty(e.target.value));
  $('booking-form').addEventListener('submit', createBooking);
  $('inquiry-form').addEventListener('submit', createInquiry);

  const kept = store.get();
  if (kept) start(kept, true);
  else showLogin('');
}

async function createBooking(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const f = form.elements;
  const booking = {
    property_id: ctx.propertyId,
    ota_name: f.ota_name.value,
    arrival_date: f.arrival_date.value,
    departure_date: f.departure_date.value,
    customer: { name: f.name.value.trim() },
    occupancy: { adults: Number(f.adults.value || 1), children: Number(f.children.value || 0), infants: 0 },
  };
  if (f.surname.value.trim()) booking.customer.surname = f.surname.value.trim();
  if (f.ota_reservation_code.value.trim()) booking.ota_reservation_code = f.ota_reservation_code.value.trim();
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const res = await ctx.api.post('/admin/bookings', { booking });
    f.name.value = '';
    f.surname.value = '';
    f.ota_reservation_code.value = '';
    await loadBookings();
    select({ booking: res.data.id });
  } catch (err) {
    notify('Could not create the booking.', err);
  } finally {
    button.disabled = false;
  }
}

async function createInquiry(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const f = form.elements;
  const inquiry = {
    property_id: ctx.propertyId,
    guest_name: f.guest_name.value.trim(),
    checkin_date: f.checkin_date.value,
    checkout_date: f.checkout_date.value,
    number_of_adults: Number(f.number_of_adults.value || 1),
    number_of_children: Number(f.number_of_children.value || 0),
  };
  if (f.listing_name.value.trim()) inquiry.listing_name = f.listing_name.value.trim();
  if (f.expected_payout_amount_accurate.value.trim()) inquiry.expected_payout_amount_accurate = f.expected_payout_amount_accurate.value.trim();
  if (f.message.value.trim()) inquiry.message = f.message.value.trim();
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const res = await ctx.api.post('/admin/inquiries', { inquiry });
    form.reset();
    f.checkin_date.value = dateIn(7);
    f.checkout_date.value = dateIn(10);
    await loadThreads();
    select({ thread: res.data.id });
  } catch (err) {
    notify('Could not open the inquiry.', err);
  } finally {
    button.disabled = false;
  }
}

setup();
