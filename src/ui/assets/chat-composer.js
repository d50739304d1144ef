// The composer: text (Enter sends, Shift+Enter is a new line), one attachment per message
// (unless the exchange hid the button), drafts kept per thread for the session.

import { ApiError } from './api.js';
import { fileToBase64, h, icon, replace } from './dom.js';

const drafts = new Map();

export class Composer {
  constructor(ctx, thread, onSent) {
    this.ctx = ctx;
    this.thread = thread;
    this.onSent = onSent;
    this.attachment = null;
    this.sending = false;
    const { t, boot } = ctx;
    const id = thread().id;

    this.text = h('textarea', {
      class: 'composer-text',
      rows: 1,
      maxLength: 10000,
      placeholder: t('placeholder'),
      value: drafts.get(id) || '',
      attrs: { 'aria-label': t('placeholder'), enterkeyhint: 'send' },
      on: {
        keydown: (e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
            e.preventDefault();
            this.send();
          }
        },
        input: () => {
          drafts.set(id, this.text.value);
          this.update();
        },
        paste: (e) => {
          const file = e.clipboardData?.files?.[0];
          if (file && !boot.hide_attach) {
            e.preventDefault();
            this.upload(file);
          }
        },
      },
    });
    this.chip = h('div', { class: 'chip-row', hidden: true });
    this.file = h('input', {
      type: 'file',
      class: 'visually-hidden',
      tabIndex: -1,
      attrs: { 'aria-hidden': 'true' },
      on: {
        change: () => {
          const file = this.file.files?.[0];
          this.file.value = '';
          if (file) this.upload(file);
        },
      },
    });
    this.attach = boot.hide_attach ? null : h('button', {
      type: 'button',
      class: 'attach',
      attrs: { 'aria-label': t('attach'), title: t('attach') },
      on: { click: () => this.file.click() },
    }, icon('clip'));
    this.sendButton = h('button', { type: 'submit', class: 'send', text: t('send') });
    this.el = h('form', {
      class: 'composer',
      on: {
        submit: (e) => {
          e.preventDefault();
          this.send();
        },
        dragover: (e) => {
          if (!boot.hide_attach) e.preventDefault();
        },
        drop: (e) => {
          const file = e.dataTransfer?.files?.[0];
          if (file && !boot.hide_attach) {
            e.preventDefault();
            this.upload(file);
          }
        },
      },
    },
    this.chip,
    h('div', { class: 'composer-row' }, this.attach, this.attach ? this.file : null, this.text, this.sendButton),
    h('p', { class: 'hint', text: t('hint') }));
    this.update();
  }

  focus() {
    // On a phone-sized frame, opening the keyboard at once hides the conversation.
    if (window.innerWidth >= 720) this.text.focus();
  }

  update() {
    const ready = this.text.value.trim() !== '' || (this.attachment && this.attachment.id);
    this.sendButton.disabled = this.sending || !ready || (this.attachment && !this.attachment.id);
    if (!this.attachment) {
      this.chip.hidden = true;
      replace(this.chip);
      return;
    }
    const { t } = this.ctx;
    this.chip.hidden = false;
    replace(this.chip, h('span', { class: `chip${this.attachment.id ? '' : ' is-loading'}` },
      icon('clip'),
      h('span', { class: 'chip-name', text: this.attachment.name }),
      this.attachment.id ? null : h('span', { class: 'chip-state', text: t('uploading') }),
      h('button', {
        type: 'button',
        class: 'chip-remove',
        text: '×',
        attrs: { 'aria-label': `${t('remove')} ${this.attachment.name}`, title: t('remove') },
        on: { click: () => { this.attachment = null; this.update(); } },
      })));
  }

  async upload(file) {
    const { api, t } = this.ctx;
    const mine = { name: file.name || 'file', id: null };
    this.attachment = mine;
    this.update();
    try {
      const body = {
        attachment: {
          file: await fileToBase64(file),
          file_name: mine.name,
          file_type: file.type || 'application/octet-stream',
        },
      };
      const res = await api.post('/attachments', body);
      if (this.attachment !== mine) return;
      mine.id = res.data.id;
    } catch (err) {
      if (this.attachment === mine) this.attachment = null;
      if (!(err instanceof ApiError && err.status === 401)) {
        this.ctx.notify(err instanceof ApiError && err.status === 413 ? t('err_too_large') : t('err_upload'), err);
      }
    }
    this.update();
  }

  async send() {
    if (this.sending) return;
    const { api, t } = this.ctx;
    const text = this.text.value.trim();
    const attachment = this.attachment;
    if (attachment && !attachment.id) return;
    if (!text && !attachment) return;
    const thread = this.thread();
    const body = { message: {} };
    if (text) body.message.message = text;
    if (attachment) body.message.attachment_id = attachment.id;
    this.sending = true;
    this.update();
    try {
      const res = await api.post(`/message_threads/${encodeURIComponent(thread.id)}/messages`, body);
      if (this.thread().id === thread.id) {
        this.text.value = '';
        this.attachment = null;
      }
      drafts.delete(thread.id);
      this.onSent(res.data);
      this.ctx.refreshThread(thread.id);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) this.ctx.notify(t('err_send'), err);
    } finally {
      this.sending = false;
      this.update();
      this.text.focus();
    }
  }
}
