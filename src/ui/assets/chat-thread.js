// The open conversation: header and actions, the messages, the booking panel and the composer.

import { ApiError, query } from './api.js';
import { attachmentName, h, icon, linkify, looksLikeImage, parseTime, replace } from './dom.js';
import { inquiryCard, bookingCard } from './chat-cards.js';
import { lastTime, providerClass, providerName } from './chat-list.js';
import { Composer } from './chat-composer.js';

const PAGE = 50;
const WIDE = 1000;

function byTime(x, y) {
  const a = x.attributes.inserted_at || '';
  const b = y.attributes.inserted_at || '';
  return a < b ? -1 : a > b ? 1 : 0;
}

function dayKey(date) {
  return date ? `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}` : '';
}

export class Conversation {
  constructor(ctx, root) {
    this.ctx = ctx;
    this.root = root;
    this.thread = null;
    this.seq = 0;
    this.blobs = new Map();
    this.bookingOpen = window.innerWidth >= WIDE;
  }

  /** The placeholder shown when no conversation is open. */
  empty() {
    replace(this.root, h('p', { class: 'empty pick', text: this.ctx.t('pick_thread') }));
  }

  /** Opens a thread: header, messages (newest page), composer. */
  async open(thread) {
    const { t } = this.ctx;
    this.seq += 1;
    const seq = this.seq;
    for (const blob of this.blobs.values()) blob.then((b) => URL.revokeObjectURL(b.url), () => {});
    this.blobs.clear();
    this.thread = thread;
    this.messages = new Map();
    this.total = 0;
    this.page = 0;
    this.booking = null;

    this.title = h('h2', { class: 'conv-title' });
    this.badges = h('span', { class: 'conv-badges' });
    this.actions = h('div', { class: 'conv-actions' });
    this.earlier = h('button', {
      type: 'button',
      class: 'more earlier',
      text: t('load_earlier'),
      hidden: true,
      on: { click: () => this.loadEarlier() },
    });
    this.list = h('ol', { class: 'messages', attrs: { 'aria-live': 'polite', 'aria-relevant': 'additions' } });
    this.scroller = h('div', {
      class: 'messages-scroll',
      on: { scroll: () => { this.atBottom = this.nearBottom(); } },
    }, this.earlier, this.list);
    this.atBottom = true;
    this.panel = h('aside', { class: 'booking-panel', attrs: { 'aria-label': t('booking') } });
    this.closedNotice = h('p', { class: 'closed-notice', text: t('closed_notice') });
    this.composer = new Composer(this.ctx, () => this.thread, (message) => this.add(message));

    replace(this.root,
      h('header', { class: 'conv-header' },
        h('button', {
          type: 'button',
          class: 'back',
          attrs: { 'aria-label': t('back'), title: t('back') },
          on: { click: () => this.ctx.showList() },
        }, icon('back')),
        h('div', { class: 'conv-heading' }, this.title, this.badges),
        this.actions),
      h('div', { class: 'conv-body' },
        h('div', { class: 'conv-main' }, this.scroller, this.closedNotice, this.composer.el),
        this.panel));
    this.setThread(thread);
    this.list.append(h('li', { class: 'loading', text: t('loading') }));

    try {
      await this.loadPage(1, seq);
    } catch (err) {
      if (seq !== this.seq) return;
      replace(this.list);
      if (!(err instanceof ApiError && err.status === 401)) this.ctx.notify(t('err_messages'), err);
      return;
    }
    if (seq !== this.seq) return;
    this.render(true);
    this.composer.focus();
  }

  async loadPage(page, seq) {
    const params = query({ 'pagination[page]': page, 'pagination[limit]': PAGE, 'order[inserted_at]': 'desc' });
    const res = await this.ctx.api.get(`/message_threads/${encodeURIComponent(this.thread.id)}/messages${params}`);
    if (seq !== this.seq) return;
    for (const m of res.data) this.messages.set(m.id, m);
    this.total = res.meta?.total ?? this.messages.size;
    this.page = page;
  }

  async loadEarlier() {
    const seq = this.seq;
    this.earlier.disabled = true;
    const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
    try {
      await this.loadPage(this.page + 1, seq);
      if (seq !== this.seq) return;
      this.render(false);
      this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
    } catch (err) {
      this.ctx.notify(this.ctx.t('err_messages'), err);
    } finally {
      this.earlier.disabled = false;
    }
  }

  /** Shows a thread's new state (closed, booking, no reply) in the header. */
  setThread(thread) {
    if (!this.thread || thread.id !== this.thread.id) return;
    this.thread = thread;
    const { t, boot } = this.ctx;
    const a = thread.attributes;
    this.title.textContent = a.title || t('guest');
    replace(this.badges,
      h('span', { class: providerClass(a.provider), text: providerName(a.provider) }),
      a.is_closed ? h('span', { class: 'badge closed', text: t('closed') }) : null);
    this.root.classList.toggle('is-closed', a.is_closed);
    this.closedNotice.hidden = !a.is_closed;

    const bookingId = thread.relationships?.booking?.data?.id;
    const buttons = [];
    if (boot.show_booking && bookingId) {
      buttons.push(h('button', {
        type: 'button',
        class: 'action booking-toggle',
        text: t('booking'),
        attrs: { 'aria-expanded': String(this.bookingOpen), 'aria-pressed': String(this.bookingOpen) },
        on: { click: () => this.toggleBooking() },
      }));
    }
    if (a.provider === 'BookingCom') {
      const marked = (this.ctx.noReply.get(thread.id) ?? -1) >= lastTime(thread);
      const waiting = a.last_message?.sender === 'guest';
      buttons.push(h('button', {
        type: 'button',
        class: 'action no-reply',
        text: marked ? t('no_reply_done') : t('no_reply'),
        disabled: marked || !waiting,
        on: { click: (e) => this.act(e.currentTarget, 'no_reply_needed') },
      }));
    }
    buttons.push(a.is_closed
      ? h('button', { type: 'button', class: 'action reopen', text: t('reopen'), on: { click: (e) => this.act(e.currentTarget, 'reopen') } })
      : h('button', { type: 'button', class: 'action close', text: t('close'), on: { click: (e) => this.act(e.currentTarget, 'close') } }));
    replace(this.actions, buttons);

    const showPanel = Boolean(boot.show_booking && bookingId && this.bookingOpen);
    this.panel.hidden = !showPanel;
    this.root.classList.toggle('with-booking', showPanel);
    if (showPanel && (!this.booking || this.booking.id !== bookingId)) this.loadBooking(bookingId);
  }

  toggleBooking() {
    this.bookingOpen = !this.bookingOpen;
    this.setThread(this.thread);
  }

  async loadBooking(id) {
    const seq = this.seq;
    this.booking = { id };
    replace(this.panel, h('p', { class: 'loading', text: this.ctx.t('loading') }));
    try {
      const res = await this.ctx.api.get(`/bookings/${encodeURIComponent(id)}`);
      if (seq !== this.seq) return;
      this.booking = res.data;
      replace(this.panel, bookingCard(this.ctx, res.data));
    } catch (err) {
      if (seq !== this.seq) return;
      this.booking = null;
      replace(this.panel, h('p', { class: 'error', text: this.ctx.t('err_booking') }));
    }
  }

  /** close, reopen or no_reply_needed. */
  async act(button, action) {
    const { api, t } = this.ctx;
    const thread = this.thread;
    button.disabled = true;
    try {
      const res = await api.post(`/message_threads/${encodeURIComponent(thread.id)}/${action}`);
      if (action === 'no_reply_needed') this.ctx.noReply.set(thread.id, lastTime(res.data));
      this.ctx.upsertThread(res.data);
      this.ctx.render();
    } catch (err) {
      button.disabled = false;
      if (!(err instanceof ApiError && err.status === 401)) this.ctx.notify(t('err_action'), err);
    }
  }

  /** A message of this thread that arrived on the live stream (webhook payload shape). */
  addLive(data) {
    if (!this.thread || data.message_thread_id !== this.thread.id || !data.id) return;
    if (data.sender === 'guest') this.ctx.noReply.delete(this.thread.id);
    this.add({
      id: data.id,
      type: 'message',
      attributes: {
        message: data.message ?? '',
        attachments: data.attachments || [],
        sender: data.sender,
        inserted_at: data.inserted_at || new Date().toISOString().replace('Z', ''),
        meta: data.meta ?? undefined,
      },
    });
  }

  nearBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80;
  }

  /** Adds one message and redraws, staying at the bottom if the reader was there. */
  add(message) {
    if (!this.thread || this.messages.has(message.id)) return;
    const of = message.relationships?.message_thread?.data?.id;
    if (of && of !== this.thread.id) return;
    const stick = this.atBottom || this.nearBottom();
    this.messages.set(message.id, message);
    this.total += 1;
    this.render(stick);
  }

  render(toBottom) {
    const { t, lang } = this.ctx;
    const items = [];
    let day = '';
    const sorted = [...this.messages.values()].sort(byTime);
    for (const m of sorted) {
      const at = parseTime(m.attributes.inserted_at);
      const key = dayKey(at);
      if (key && key !== day) {
        day = key;
        items.push(h('li', { class: 'day', text: new Intl.DateTimeFormat(lang, { dateStyle: 'full' }).format(at) }));
      }
      items.push(this.message(m, at));
    }
    replace(this.list, items);
    this.earlier.hidden = this.messages.size >= this.total;
    this.earlier.textContent = t('load_earlier');
    if (toBottom) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
      this.atBottom = true;
    }
  }

  message(m, at) {
    const { t, lang } = this.ctx;
    const a = m.attributes;
    const time = h('time', {
      class: 'msg-time',
      text: at ? new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(at) : '',
      attrs: { datetime: at ? at.toISOString() : null },
    });
    if (a.sender === 'system') {
      if (a.meta && a.meta.booking_details) {
        return h('li', { class: 'msg msg-system', dataset: { id: m.id } }, inquiryCard(this.ctx, a.meta), time);
      }
      return h('li', { class: 'msg msg-system', dataset: { id: m.id } },
        h('p', { class: 'msg-text', text: a.message === 'inquiry' ? t('inquiry') : a.message }), time);
    }
    const guest = a.sender === 'guest';
    const role = a.meta?.role === 'HOST' ? t('host') : a.meta?.role === 'COHOST' ? t('cohost') : '';
    const name = a.meta?.name || (guest ? this.thread.attributes.title || t('guest') : t('you'));
    return h('li', { class: `msg ${guest ? 'msg-guest' : 'msg-property'}`, dataset: { id: m.id } },
      h('div', { class: 'bubble' },
        h('span', { class: 'msg-author', text: role ? `${name} · ${role}` : name }),
        a.message ? h('p', { class: 'msg-text' }, linkify(a.message)) : null,
        (a.attachments || []).length
          ? h('div', { class: 'attachments' }, a.attachments.map((url) => this.attachment(url)))
          : null),
      time);
  }

  /** Downloads an attachment once per conversation with the session's Bearer header. */
  blob(url) {
    if (!this.blobs.has(url)) this.blobs.set(url, this.ctx.api.blob(`/${url}`));
    return this.blobs.get(url);
  }

  attachment(url) {
    const { t } = this.ctx;
    const name = attachmentName(url);
    const link = () => h('a', {
      href: '#',
      class: 'file',
      attrs: { title: t('download') },
      on: {
        click: async (e) => {
          e.preventDefault();
          try {
            const { url: href } = await this.blob(url);
            const a = h('a', { href, download: name, hidden: true });
            document.body.append(a);
            a.click();
            a.remove();
          } catch (err) {
            this.blobs.delete(url);
            this.ctx.notify(t('err_action'), err);
          }
        },
      },
    }, icon('clip'), h('span', { text: name }));
    const box = h('div', { class: 'attachment' });
    if (!looksLikeImage(url)) return replace(box, link());
    replace(box, h('span', { class: 'file loading' }, icon('clip'), h('span', { text: name })));
    this.blob(url).then(({ url: href, type }) => {
      if (/^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(type)) {
        replace(box, h('a', { href, target: '_blank', rel: 'noopener', class: 'image-link', attrs: { title: name } },
          h('img', {
            src: href,
            alt: name || t('image'),
            class: 'preview',
            // A preview that arrives late must not leave the newest message out of view.
            on: { load: () => { if (this.atBottom) this.scroller.scrollTop = this.scroller.scrollHeight; } },
          })));
      } else {
        replace(box, link());
      }
    }, () => {
      this.blobs.delete(url);
      replace(box, link());
    });
    return box;
  }
}
