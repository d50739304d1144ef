// The thread list: title, provider, preview of the newest message, time, closed and unread.

import { h, icon, parseTime, replace } from './dom.js';

const PROVIDERS = { BookingCom: 'Booking.com', AirBNB: 'Airbnb' };

/** The provider's display name. */
export function providerName(provider) {
  return PROVIDERS[provider] || provider || '';
}

/** A CSS class for the provider badge. */
export function providerClass(provider) {
  if (provider === 'BookingCom') return 'badge provider provider-booking';
  if (provider === 'AirBNB') return 'badge provider provider-airbnb';
  return 'badge provider';
}

/** The newest message's time of a thread, in ms. */
export function lastTime(thread) {
  const a = thread.attributes;
  const at = parseTime(a.last_message?.inserted_at || a.last_message_received_at || a.inserted_at);
  return at ? at.getTime() : 0;
}

/**
 * Unread: the thread is open, its newest message is the guest's, and that message has not been
 * on screen in this session nor been marked "no reply needed" here. A fresh session therefore
 * shows every open thread whose guest is waiting for an answer.
 */
export function isUnread(ctx, thread) {
  const a = thread.attributes;
  if (a.is_closed || !a.last_message || a.last_message.sender !== 'guest') return false;
  const at = lastTime(thread);
  if ((ctx.noReply.get(thread.id) ?? -1) >= at) return false;
  return (ctx.seen.get(thread.id) ?? -1) < at;
}

/** Today: the time; this week: the weekday; else the date. */
export function shortTime(lang, date) {
  if (!date) return '';
  const now = new Date();
  const startOfDay = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (date.getTime() >= startOfDay) {
    return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(date);
  }
  if (date.getTime() >= startOfDay - 6 * 86400000) {
    return new Intl.DateTimeFormat(lang, { weekday: 'short' }).format(date);
  }
  const sameYear = date.getFullYear() === now.getFullYear();
  return new Intl.DateTimeFormat(lang, sameYear
    ? { day: 'numeric', month: 'short' }
    : { day: 'numeric', month: 'short', year: 'numeric' }).format(date);
}

function preview(ctx, last) {
  if (!last) return '';
  const { t } = ctx;
  let text = last.message || '';
  if (last.sender === 'system' && text === 'inquiry') text = t('inquiry');
  const clip = last.attachments?.length ? icon('clip') : null;
  if (!text && clip) text = t('attachment');
  return [clip, last.sender === 'property' ? `${t('you')}: ${text}` : text];
}

function row(ctx, thread) {
  const { t } = ctx;
  const a = thread.attributes;
  const unread = isUnread(ctx, thread);
  const at = parseTime(a.last_message?.inserted_at || a.last_message_received_at || a.inserted_at);
  const classes = ['thread'];
  if (unread) classes.push('is-unread');
  if (a.is_closed) classes.push('is-closed');
  if (thread.id === ctx.openId) classes.push('is-open');
  return h('li', { dataset: { threadId: thread.id } },
    h('button', {
      type: 'button',
      class: classes.join(' '),
      attrs: { 'aria-current': thread.id === ctx.openId ? 'true' : null },
      on: { click: () => ctx.openThread(thread.id) },
    },
    h('span', { class: 'thread-top' },
      unread ? h('span', { class: 'unread-dot', attrs: { title: t('unread') } },
        h('span', { class: 'visually-hidden', text: t('unread') })) : null,
      h('span', { class: 'thread-title', text: a.title || t('guest') }),
      h('time', { class: 'thread-time', text: shortTime(ctx.lang, at), attrs: { datetime: at ? at.toISOString() : null } })),
    h('span', { class: 'thread-bottom' },
      h('span', { class: providerClass(a.provider), text: providerName(a.provider) }),
      a.is_closed ? h('span', { class: 'badge closed', text: t('closed') }) : null,
      h('span', { class: 'thread-preview' }, preview(ctx, a.last_message)))));
}

/** Renders the list in place, newest conversation first, keeping the keyboard focus. */
export function renderThreadList(ctx, list, empty) {
  const focused = document.activeElement?.closest?.('li[data-thread-id]')?.dataset.threadId;
  const threads = [...ctx.threads.values()].sort((x, y) => lastTime(y) - lastTime(x));
  replace(list, threads.map((thread) => row(ctx, thread)));
  empty.textContent = ctx.t('no_threads');
  empty.hidden = threads.length > 0;
  if (focused) list.querySelector(`li[data-thread-id="${CSS.escape(focused)}"] button`)?.focus();
}
