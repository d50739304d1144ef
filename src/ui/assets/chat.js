// The chat of one property, opened by the one-time-token exchange. The session token of the
// boot block lives in this module's memory only: no cookie, no storage, so the chat works in a
// cross-origin iframe with third-party cookies and storage blocked.

import { client, ApiError, query } from './api.js';
import { openStream } from './stream.js';
import { pickLanguage, translator } from './i18n.js';
import { parseTime, replace, h } from './dom.js';
import { renderThreadList, isUnread, lastTime } from './chat-list.js';
import { Conversation } from './chat-thread.js';

const PAGE = 50;

function readBoot() {
  const el = document.getElementById('ota-boot');
  try {
    const boot = JSON.parse(el ? el.textContent : '');
    if (boot && typeof boot.session_token === 'string' && typeof boot.property_id === 'string') {
      return boot;
    }
  } catch {
    // The page was opened without the exchange: the placeholder is not JSON.
  }
  return null;
}

const boot = readBoot();
const lang = pickLanguage(boot?.lng ?? navigator.language);
const t = translator(lang);
document.documentElement.lang = lang;

const $ = (id) => document.getElementById(id);
const app = $('app');

/** Everything the page knows; the modules below read and change it through this object. */
const ctx = {
  boot,
  t,
  lang,
  api: null,
  threads: new Map(),
  total: 0,
  page: 0,
  filter: 'all',
  openId: null,
  /** Thread id → time (ms) of the newest message shown while the thread was on screen. */
  seen: new Map(),
  /** Thread id → time (ms) of the guest message marked "no reply needed" in this session. */
  noReply: new Map(),
  ended: false,
  render: () => renderAll(),
  notify: (message, err) => notify(message, err),
  openThread: (id) => openThread(id),
  upsertThread: (thread) => upsertThread(thread),
  refreshThread: (id) => refreshThread(id),
  markSeen: (id) => markSeen(id),
  showList: () => setView('list'),
};

function setView(view) {
  app.dataset.view = view;
}

function notify(message, err) {
  const box = $('notice');
  const lines = err instanceof ApiError ? err.detailLines() : [];
  replace(box,
    h('span', { class: 'notice-text', text: message }),
    lines.length ? h('span', { class: 'notice-detail', text: lines.join(' · ') }) : null,
    h('button', {
      type: 'button',
      class: 'notice-close',
      text: '×',
      attrs: { 'aria-label': t('dismiss') },
      on: { click: () => { box.hidden = true; } },
    }));
  box.hidden = false;
}

function endSession() {
  if (ctx.ended) return;
  ctx.ended = true;
  if (stream) stream.close();
  replace(app, h('div', { class: 'ended', role: 'alert' },
    h('p', { text: t('err_session') })));
  app.removeAttribute('aria-busy');
}

/** A thread matches the list filter. */
function visible(thread) {
  if (ctx.filter === 'open') return !thread.attributes.is_closed;
  if (ctx.filter === 'closed') return thread.attributes.is_closed;
  return true;
}

function upsertThread(thread) {
  if (thread.relationships?.property?.data?.id
      && thread.relationships.property.data.id !== boot.property_id) return;
  if (!visible(thread) && thread.id !== ctx.openId) {
    if (ctx.threads.delete(thread.id)) ctx.total = Math.max(0, ctx.total - 1);
  } else {
    if (!ctx.threads.has(thread.id)) ctx.total += 1;
    ctx.threads.set(thread.id, thread);
  }
  if (thread.id === ctx.openId && conversation) conversation.setThread(thread);
}

function markSeen(id) {
  const thread = ctx.threads.get(id);
  if (!thread || document.visibilityState !== 'visible') return;
  const at = lastTime(thread);
  if ((ctx.seen.get(id) || 0) < at) {
    ctx.seen.set(id, at);
    renderAll();
  }
}

let lastUnread = -1;

function renderAll() {
  if (ctx.ended) return;
  renderThreadList(ctx, $('threads'), $('threads-empty'));
  $('more-threads').hidden = ctx.threads.size >= ctx.total || ctx.page === 0;
  const unread = [...ctx.threads.values()].filter((th) => isUnread(ctx, th)).length;
  if (unread !== lastUnread) {
    lastUnread = unread;
    document.title = unread ? `(${unread}) ${t('title')}` : t('title');
    // The host page may show a badge: only a count leaves the frame.
    if (window.parent !== window) window.parent.postMessage({ type: 'ota-inbox:unread', count: unread }, '*');
  }
}

function threadQuery(page) {
  const params = {
    'filter[property_id]': boot.property_id,
    'order[last_message_received_at]': 'desc',
    'pagination[page]': page,
    'pagination[limit]': PAGE,
  };
  if (ctx.filter === 'open') params['filter[is_closed]'] = 'false';
  if (ctx.filter === 'closed') params['filter[is_closed]'] = 'true';
  return `/message_threads${query(params)}`;
}

async function loadThreads(page) {
  const more = $('more-threads');
  more.disabled = true;
  try {
    const res = await ctx.api.get(threadQuery(page));
    if (page === 1) ctx.threads.clear();
    for (const thread of res.data) ctx.threads.set(thread.id, thread);
    ctx.total = res.meta?.total ?? ctx.threads.size;
    ctx.page = page;
    renderAll();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    notify(t('err_load'), err);
  } finally {
    more.disabled = false;
  }
}

const pending = new Map();

/** Refetches one thread (coalescing bursts of events about it). */
function refreshThread(id) {
  if (!id || pending.has(id)) return;
  pending.set(id, setTimeout(async () => {
    pending.delete(id);
    try {
      const res = await ctx.api.get(`/message_threads/${encodeURIComponent(id)}`);
      upsertThread(res.data);
      if (id === ctx.openId) markSeen(id);
      renderAll();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 403)) {
        ctx.threads.delete(id);
        renderAll();
      }
    }
  }, 80));
}

let conversation = null;

async function openThread(id) {
  if (!conversation) conversation = new Conversation(ctx, $('conversation'));
  ctx.openId = id;
  setView('thread');
  let thread = ctx.threads.get(id);
  if (!thread) {
    try {
      thread = (await ctx.api.get(`/message_threads/${encodeURIComponent(id)}`)).data;
      ctx.threads.set(thread.id, thread);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) notify(t('err_messages'), err);
      ctx.openId = null;
      setView('list');
      renderAll();
      return;
    }
  }
  renderAll();
  await conversation.open(thread);
  markSeen(id);
}

// Live events.

function onEvent(event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  if (!data || typeof data !== 'object') return;
  if (data.property_id && data.property_id !== boot.property_id) return;
  const id = data.message_thread_id;
  if (event.type === 'message') {
    const thread = ctx.threads.get(id);
    if (thread) {
      const at = data.inserted_at || new Date().toISOString().replace('Z', '');
      const attrs = thread.attributes;
      const known = parseTime(attrs.last_message?.inserted_at);
      const when = parseTime(at);
      if (!known || !when || when >= known) {
        attrs.last_message = {
          attachments: data.attachments || [],
          inserted_at: at,
          message: data.message ?? '',
          sender: data.sender,
        };
        attrs.last_message_received_at = at;
      }
      attrs.is_closed = false;
      if (data.sender === 'guest') ctx.noReply.delete(id);
    }
    if (id === ctx.openId && conversation) {
      conversation.addLive(data);
      markSeen(id);
    }
    renderAll();
  }
  if (event.type === 'message_thread_updated' && data.change === 'no_reply_needed' && ctx.threads.has(id)) {
    // Marked elsewhere (another user, the PMS backend): the guest's message needs no answer.
    ctx.noReply.set(id, lastTime(ctx.threads.get(id)));
  }
  if (['message', 'message_thread_updated', 'inquiry', 'message_thread_booking_assigned'].includes(event.type)) {
    refreshThread(id);
  }
}

let stream = null;

function startStream() {
  let opened;
  const first = new Promise((resolve) => { opened = resolve; });
  stream = openStream({
    url: `${boot.api_base}/events/stream`,
    headers: () => ({ Authorization: `Bearer ${boot.session_token}` }),
    onEvent: (event) => {
      if (loaded) onEvent(event);
      else queued.push(event);
    },
    onState: (state) => {
      const live = $('live');
      if (state === 'open') {
        live.hidden = true;
        // Without a last id there is nothing to resume from: when the list was read before this
        // connection, reload what may have changed in between.
        if (loaded && stream && stream.lastEventId === null) reload();
        opened();
      } else if (state === 'retrying') {
        live.textContent = t('reconnecting');
        live.hidden = false;
        opened();
      }
    },
    onFatal: (status) => {
      opened();
      if (status === 401) endSession();
    },
  });
  return first;
}

let loaded = false;
const queued = [];

async function reload() {
  await loadThreads(1);
  if (ctx.openId) refreshThread(ctx.openId);
}

async function start() {
  if (!boot) {
    replace(app, h('div', { class: 'ended', role: 'alert' }, h('p', { text: t('err_boot') })));
    app.removeAttribute('aria-busy');
    return;
  }
  ctx.api = client({ base: boot.api_base || '/api/v1', token: boot.session_token, onUnauthorized: endSession });
  // Only the token's use is needed from here on: keep it out of the DOM.
  document.getElementById('ota-boot')?.remove();

  $('list-title').textContent = t('title');
  $('filter-label').textContent = t('filter');
  for (const option of $('filter').options) option.textContent = t(`filter_${option.value}`);
  $('more-threads').textContent = t('load_more');
  $('threads').setAttribute('aria-label', t('conversations'));
  $('filter').addEventListener('change', (e) => {
    ctx.filter = e.target.value;
    loadThreads(1);
  });
  $('more-threads').addEventListener('click', () => loadThreads(ctx.page + 1));
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && ctx.openId) markSeen(ctx.openId);
  });

  conversation = new Conversation(ctx, $('conversation'));
  conversation.empty();

  // Subscribe first, then read: what happens in between arrives as events after the load.
  await Promise.race([startStream(), new Promise((r) => setTimeout(r, 1000))]);
  await loadThreads(1);
  loaded = true;
  for (const event of queued.splice(0)) onEvent(event);
  app.removeAttribute('aria-busy');
  if (boot.thread_id) await openThread(boot.thread_id);
}

start();
