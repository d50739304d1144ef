// Cards: the inquiry details of an Airbnb inquiry's system message, and the booking panel.

import { h, parseDate, parseTime } from './dom.js';
import { providerName } from './chat-list.js';

function dateText(lang, value) {
  const d = parseDate(value);
  return d ? new Intl.DateTimeFormat(lang, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }).format(d) : (value || '');
}

function money(lang, amount, currency) {
  if (amount === undefined || amount === null || amount === '') return '';
  const n = Number(amount);
  if (currency && Number.isFinite(n)) {
    try {
      return new Intl.NumberFormat(lang, { style: 'currency', currency }).format(n);
    } catch {
      // An unknown currency code: show it as written.
    }
  }
  return currency ? `${amount} ${currency}` : String(amount);
}

function rows(pairs) {
  return h('dl', { class: 'facts' }, pairs
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([label, value]) => [h('dt', { text: label }), h('dd', { text: String(value) })]));
}

function nightsBetween(from, to) {
  const a = parseDate(from);
  const b = parseDate(to);
  return a && b ? Math.round((b - a) / 86400000) : null;
}

function guestsText(t, d) {
  const parts = [
    [t('adults'), d.number_of_adults],
    [t('children'), d.number_of_children],
    [t('infants'), d.number_of_infants],
    [t('pets'), d.number_of_pets],
  ].filter(([, n]) => Number(n) > 0).map(([label, n]) => `${label} ${n}`);
  return parts.join(' · ');
}

/** The details card of an inquiry (`meta.booking_details` of its system message). */
export function inquiryCard(ctx, meta) {
  const { t, lang } = ctx;
  const d = meta.booking_details || {};
  const replyBy = parseTime(d.non_response_at);
  const total = d.number_of_guests ?? (Number(d.number_of_adults || 0) + Number(d.number_of_children || 0));
  return h('div', { class: 'card inquiry-card' },
    h('div', { class: 'card-title' },
      h('span', { class: 'badge provider provider-airbnb', text: providerName('AirBNB') }),
      h('strong', { text: t('inquiry') }),
      meta.status ? h('span', { class: 'badge', text: meta.status }) : null),
    rows([
      [t('listing'), d.listing_name],
      [t('guest'), d.guest_name],
      [t('checkin'), dateText(lang, d.checkin_date)],
      [t('checkout'), dateText(lang, d.checkout_date)],
      [t('nights'), d.nights ?? nightsBetween(d.checkin_date, d.checkout_date)],
      [t('guests'), [total || '', guestsText(t, d)].filter(Boolean).join(' — ')],
      [t('payout'), money(lang, d.expected_payout_amount_accurate ?? d.payout_amount, d.currency)],
      [t('reply_by'), replyBy ? new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(replyBy) : ''],
    ]));
}

/** The booking panel: what the PMS shows next to the conversation. */
export function bookingCard(ctx, booking) {
  const { t, lang } = ctx;
  const a = booking.attributes || {};
  const c = a.customer || {};
  const o = a.occupancy || {};
  const status = a.status ? t(`status_${a.status}`) : '';
  const occupancy = [
    [t('adults'), o.adults],
    [t('children'), o.children],
    [t('infants'), o.infants],
  ].filter(([, n]) => Number(n) > 0).map(([label, n]) => `${label} ${n}`).join(' · ');
  return h('div', { class: 'card booking-card' },
    h('div', { class: 'card-title' },
      h('strong', { text: t('booking') }),
      status ? h('span', { class: `badge status status-${a.status}`, text: status }) : null),
    rows([
      [t('reservation'), a.unique_id || a.ota_reservation_code],
      [t('channel'), providerName(a.ota_name === 'Airbnb' ? 'AirBNB' : a.ota_name)],
      [t('guest'), [c.name, c.surname].filter(Boolean).join(' ')],
      [t('arrival'), dateText(lang, a.arrival_date)],
      [t('departure'), dateText(lang, a.departure_date)],
      [t('nights'), nightsBetween(a.arrival_date, a.departure_date)],
      [t('guests'), occupancy],
      [t('amount'), money(lang, a.amount, a.currency)],
      [t('email'), c.mail],
      [t('phone'), c.phone],
      [t('country'), c.country],
      [t('notes'), a.notes],
    ]));
}
