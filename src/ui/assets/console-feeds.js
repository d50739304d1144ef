// The console's right column: what the property sent (the outbox), webhook deliveries with
// their attempts, and the log of live events.

import { ApiError, query } from './api.js';
import { h, replace } from './dom.js';

const $ = (id) => document.getElementById(id);

function byProperty(ctx, extra) {
  return query({ 'filter[property_id]': ctx.propertyId, 'pagination[limit]': 100, ...extra });
}

/** The outbox of the chosen property, newest first. */
export async function loadOutbox(ctx) {
  if (!ctx.propertyId) return;
  try {
    const res = await ctx.api.get(`/admin/outbox${byProperty(ctx, { 'order[inserted_at]': 'desc', 'pagination[limit]': 30 })}`);
    const titles = new Map(ctx.threads.map((t) => [t.id, t.attributes.title]));
    replace($('outbox'), res.data.map((o) => {
      const a = o.attributes;
      const p = a.payload || {};
      const text = a.kind === 'no_reply_needed' ? 'marked: no reply needed' : (p.message || '');
      const files = (p.attachments || []).length;
      return h('li', { class: 'entry' },
        h('span', { class: 'entry-top' },
          h('span', { class: `badge ${a.kind === 'message' ? 'sent' : 'other'}`, text: a.kind }),
          h('span', { text: titles.get(a.message_thread_id) || a.message_thread_id }),
          h('time', { text: ctx.time(a.inserted_at) })),
        text ? h('span', { class: 'entry-text', text }) : null,
        files ? h('span', { class: 'entry-sub', text: `${files} attachment${files > 1 ? 's' : ''}` }) : null);
    }));
    $('outbox-empty').hidden = res.data.length > 0;
  } catch (err) {
    ctx.notify('Could not load the outbox.', err);
  }
}

function attemptLine(ctx, at) {
  const code = at.status_code ?? null;
  const ok = code !== null && code >= 200 && code < 300;
  return h('li', { class: ok ? 'ok' : 'failed' },
    h('span', { text: `#${at.attempt ?? ''} ${code !== null ? `HTTP ${code}` : 'no answer'}` }),
    at.duration_ms !== undefined ? h('span', { class: 'entry-sub', text: ` ${at.duration_ms} ms` }) : null,
    at.error ? h('span', { class: 'entry-sub', text: ` ${at.error}` }) : null,
    h('time', { text: ctx.time(at.attempted_at) }));
}

/** Deliveries whose attempts are unfolded: kept open across the live refreshes. */
const expanded = new Set();

/** The webhook deliveries of the chosen property with their attempts, newest first. */
export async function loadDeliveries(ctx) {
  if (!ctx.propertyId) return;
  try {
    const res = await ctx.api.get(`/admin/webhook_deliveries${byProperty(ctx, { 'pagination[limit]': 30 })}`);
    replace($('deliveries'), res.data.map((d) => {
      const a = d.attributes;
      const attempts = a.attempt_log || [];
      const state = a.state || 'pending';
      return h('li', { class: 'entry' },
        h('span', { class: 'entry-top' },
          h('span', { class: `badge ${state}`, text: state }),
          h('strong', { text: a.event || '' }),
          h('time', { text: ctx.time(a.inserted_at) })),
        h('span', { class: 'entry-sub', text: a.callback_url || a.webhook_id || '' }),
        attempts.length
          ? h('details', {
            open: expanded.has(d.id),
            on: { toggle: (e) => { if (e.currentTarget.open) expanded.add(d.id); else expanded.delete(d.id); } },
          }, h('summary', { text: `${attempts.length} attempt${attempts.length > 1 ? 's' : ''}` }),
            h('ol', { class: 'attempts' }, attempts.map((at) => attemptLine(ctx, at))))
          : h('span', { class: 'entry-sub', text: 'no attempt yet' }),
        a.next_attempt_at ? h('span', { class: 'entry-sub', text: `next attempt ${ctx.time(a.next_attempt_at)}` }) : null);
    }));
    $('deliveries-empty').hidden = res.data.length > 0;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) ctx.notify('Could not load the webhook deliveries.', err);
  }
}

/** Prepends one stream event to the event log (the last 50 are kept). */
export function logEvent(ctx, event, data) {
  const list = $('events');
  const title = ctx.threads.find((t) => t.id === data.message_thread_id)?.attributes.title;
  const what = event.type === 'message' ? `${data.sender}: ${data.message || '(attachment)'}` : (title || data.message_thread_id || '');
  list.prepend(h('li', { class: 'entry' },
    h('span', { class: 'entry-top' },
      h('span', { class: 'badge other', text: `#${event.id}` }),
      h('strong', { text: event.type }),
      h('span', { class: 'entry-sub', text: title && event.type === 'message' ? title : '' })),
    h('span', { class: 'entry-text', text: what })));
  while (list.children.length > 50) list.lastElementChild.remove();
  $('events-empty').hidden = true;
}
