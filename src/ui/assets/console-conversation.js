// The console's middle column: one conversation seen from the OTA side, a composer that writes
// as the guest (text and attachments), and the assignment of a booking to an Airbnb inquiry.

import { ApiError, query } from './api.js';
import { attachmentName, fileToBase64, h, replace } from './dom.js';

export class ConsoleConversation {
  constructor(ctx, root) {
    this.ctx = ctx;
    this.root = root;
    this.sel = null;
    this.seq = 0;
  }

  clear() {
    this.sel = null;
    replace(this.root, h('p', { class: 'empty', text: 'Pick a conversation or a booking.' }));
  }

  thread() {
    return this.sel?.thread ? this.ctx.threads.find((t) => t.id === this.sel.thread) : null;
  }

  booking() {
    const id = this.sel?.booking || this.thread()?.relationships?.booking?.data?.id;
    return id ? this.ctx.bookings.find((b) => b.id === id) : null;
  }

  show(sel) {
    this.sel = sel;
    this.seq += 1;
    this.header = h('div', { class: 'conv-head' });
    this.list = h('ol', { class: 'messages' });
    this.scroller = h('div', { class: 'messages-scroll' }, this.list);
    replace(this.root, this.header, this.scroller, this.composer());
    this.renderHeader();
    if (sel.thread) this.refresh();
    else replace(this.list, h('li', { class: 'empty', text: 'No conversation yet: the first guest message opens it.' }));
  }

  /** The lists were reloaded: redraw the header (closed state, booking, assignment). */
  threadsChanged() {
    if (this.sel) this.renderHeader();
  }

  renderHeader() {
    const thread = this.thread();
    const booking = this.booking();
    const parts = [];
    if (thread) {
      const a = thread.attributes;
      parts.push(h('div', { class: 'conv-title' },
        h('strong', { text: a.title }),
        h('span', { class: `badge ${a.provider === 'BookingCom' ? 'booking' : 'airbnb'}`, text: a.provider === 'BookingCom' ? 'Booking.com' : 'Airbnb' }),
        a.is_closed ? h('span', { class: 'badge closed', text: 'closed' }) : null,
        h('span', { class: 'entry-sub', text: `${a.message_count} messages` })));
    }
    if (booking) {
      const b = booking.attributes;
      const guest = [b.customer?.name, b.customer?.surname].filter(Boolean).join(' ');
      parts.push(h('p', { class: 'entry-sub', text: `Booking ${b.ota_reservation_code} (${b.ota_name}) · ${guest} · ${b.arrival_date} → ${b.departure_date}` }));
    }
    if (thread && !thread.relationships?.booking) parts.push(this.assignForm(thread));
    replace(this.header, parts);
  }

  assignForm(thread) {
    const options = this.ctx.bookings.filter((b) => !b.relationships?.message_thread);
    const select = h('select', { name: 'booking_id', attrs: { 'aria-label': 'Booking to assign' } },
      options.length
        ? options.map((b) => h('option', { value: b.id, text: `${b.attributes.ota_reservation_code} · ${[b.attributes.customer?.name, b.attributes.customer?.surname].filter(Boolean).join(' ')}` }))
        : h('option', { value: '', text: 'no booking without a conversation' }));
    return h('form', {
      class: 'assign',
      on: {
        submit: async (e) => {
          e.preventDefault();
          if (!select.value) return;
          const button = e.currentTarget.querySelector('button');
          button.disabled = true;
          try {
            await this.ctx.api.post(`/admin/message_threads/${encodeURIComponent(thread.id)}/assign_booking`, { booking_id: select.value });
            this.ctx.reloadLists();
          } catch (err) {
            this.ctx.notify('Could not assign the booking.', err);
          } finally {
            button.disabled = false;
          }
        },
      },
    }, h('span', { class: 'entry-sub', text: 'Inquiry without a booking. Assign:' }), select,
    h('button', { type: 'submit', text: 'Assign booking', disabled: !options.length }));
  }

  async refresh() {
    const id = this.sel?.thread;
    if (!id) return;
    const seq = this.seq;
    try {
      const res = await this.ctx.api.get(`/admin/message_threads/${encodeURIComponent(id)}/messages${query({ 'pagination[limit]': 100 })}`);
      if (seq !== this.seq) return;
      const stick = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 60;
      const messages = [...res.data].sort((x, y) => (x.attributes.inserted_at < y.attributes.inserted_at ? -1 : 1));
      replace(this.list, messages.map((m) => this.message(m)));
      if (!messages.length) this.list.append(h('li', { class: 'empty', text: 'No message yet.' }));
      if (stick || this.first !== id) this.scroller.scrollTop = this.scroller.scrollHeight;
      this.first = id;
    } catch (err) {
      if (seq === this.seq) this.ctx.notify('Could not load the messages.', err);
    }
  }

  message(m) {
    const a = m.attributes;
    if (a.sender === 'system') {
      const d = a.meta?.booking_details;
      const text = d
        ? `${a.message}: ${d.guest_name}, ${d.checkin_date} → ${d.checkout_date}, ${d.number_of_guests ?? ''} guests${d.listing_name ? `, ${d.listing_name}` : ''}`
        : a.message;
      return h('li', { class: 'msg system', dataset: { id: m.id } }, h('span', { text }), h('time', { text: this.ctx.time(a.inserted_at) }));
    }
    const who = a.sender === 'guest' ? `guest${a.meta?.name ? ` (${a.meta.name})` : ''}` : `property${a.meta?.name ? ` (${a.meta.name})` : ''}`;
    return h('li', { class: `msg ${a.sender}`, dataset: { id: m.id } },
      h('div', { class: 'bubble' },
        h('span', { class: 'who', text: who }),
        a.message ? h('p', { class: 'text', text: a.message }) : null,
        (a.attachments || []).map((url) => h('span', { class: 'file', text: `[file] ${attachmentName(url)}` }))),
      h('time', { text: this.ctx.time(a.inserted_at) }));
  }

  composer() {
    const text = h('textarea', {
      name: 'message',
      rows: 2,
      placeholder: 'Write as the guest… (Enter sends, Shift+Enter for a new line)',
      attrs: { 'aria-label': 'Message from the guest' },
      on: {
        keydown: (e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            form.requestSubmit();
          }
        },
      },
    });
    const files = h('input', { type: 'file', name: 'files', multiple: true, attrs: { 'aria-label': 'Attachments' } });
    const author = h('input', { name: 'author', placeholder: 'Author name (optional)', maxLength: 200 });
    const button = h('button', { type: 'submit', text: 'Send as guest' });
    const form = h('form', {
      class: 'guest-composer',
      on: {
        submit: async (e) => {
          e.preventDefault();
          const message = {};
          if (text.value.trim()) message.message = text.value.trim();
          if (author.value.trim()) message.name = author.value.trim();
          const chosen = [...(files.files || [])];
          if (chosen.length) {
            message.attachments = await Promise.all(chosen.map(async (f) => ({
              file: await fileToBase64(f),
              file_name: f.name,
              file_type: f.type || 'application/octet-stream',
            })));
          }
          if (!message.message && !message.attachments) return;
          button.disabled = true;
          const sel = this.sel;
          const path = sel.thread
            ? `/admin/message_threads/${encodeURIComponent(sel.thread)}/guest_messages`
            : `/admin/bookings/${encodeURIComponent(sel.booking)}/guest_messages`;
          try {
            const res = await this.ctx.api.post(path, { message });
            text.value = '';
            files.value = '';
            if (!sel.thread) {
              const thread = res.data.relationships?.message_thread?.data?.id;
              this.ctx.reloadLists();
              if (thread) this.ctx.select({ thread });
            } else {
              this.refresh();
            }
          } catch (err) {
            if (!(err instanceof ApiError && err.status === 401)) this.ctx.notify('Could not send the guest message.', err);
          } finally {
            button.disabled = false;
            text.focus();
          }
        },
      },
    }, text, h('div', { class: 'composer-row' }, files, author, button));
    return form;
  }
}
