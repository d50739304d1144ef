// Re-makes the screenshots of docs/img/ from a fresh demo: `tests/browser/run.sh --screenshots`.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ADMIN_TOKEN, admin, api, eventually, guestWrites, HOST, KEY, launch, openChat, pngBase64, SERVER } from './support.mjs';

const out = process.argv[2];
if (!out) throw new Error('usage: node screenshots.mjs <folder>');
await mkdir(out, { recursive: true });

function dateIn(days) {
  return new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);
}

// A little more life in the demo: a webhook, two more guests, one closed conversation.
const property = (await api(KEY, 'GET', '/properties')).data[0];
await api(KEY, 'POST', '/webhooks', {
  webhook: {
    callback_url: `${HOST.replace('localhost', '127.0.0.1')}/webhook`,
    event_mask: 'message;inquiry',
    property_id: property.id,
    is_active: true,
    send_data: true,
  },
});
const threads = (await api(KEY, 'GET', '/message_threads')).data;
const roxy = threads.find((t) => t.attributes.provider === 'BookingCom');
const andrew = threads.find((t) => t.attributes.provider === 'AirBNB');

async function conversation(name, surname, ota, texts) {
  const booking = (await admin('POST', '/bookings', {
    booking: {
      property_id: property.id,
      ota_name: ota,
      arrival_date: dateIn(3),
      departure_date: dateIn(6),
      customer: { name, surname },
    },
  })).data;
  const first = (await admin('POST', `/bookings/${booking.id}/guest_messages`, { message: { message: texts[0] } })).data;
  const id = first.relationships.message_thread.data.id;
  for (const text of texts.slice(1)) await guestWrites(id, text);
  return id;
}

const jonas = await conversation('Jonas', 'Berg', 'BookingCom', ['Danke für alles, wir hatten einen schönen Aufenthalt!']);
await api(KEY, 'POST', `/message_threads/${jonas}/close`);
await conversation('Chen', 'Wei', 'Airbnb', ['Hello! Is there a crib for our baby?']);

const browser = await launch();
try {
  // Wide: the example PMS page with the chat, the Booking.com conversation and its booking.
  const wide = await openChat(browser, null, { viewport: { width: 1240, height: 760 }, width: 1200, height: 660, thread: roxy.id });
  await wide.chat.locator('.msg-guest').first().waitFor();
  const photo = await pngBase64(wide.page, 320, 200, '#7aa6c2');
  const upload = (await api(KEY, 'POST', '/attachments', {
    attachment: { file: photo, file_name: 'parking.png', file_type: 'image/png' },
  })).data;
  await api(KEY, 'POST', `/message_threads/${roxy.id}/messages`, {
    message: { message: 'Here is the way to the parking, the gate code is 4711.', attachment_id: upload.id },
  });
  await guestWrites(roxy.id, 'Great, see you on Friday!');
  await wide.chat.locator('.msg-guest', { hasText: 'see you on Friday' }).waitFor();
  await eventually(() => wide.chat.locator('img.preview').evaluate((i) => i.complete && i.naturalWidth > 0), 'preview');
  await wide.chat.locator('.booking-card').waitFor();
  await wide.page.screenshot({ path: join(out, 'chat-wide.png') });
  await wide.context.close();

  // Narrow: a 400 px frame with the Airbnb inquiry.
  const narrow = await openChat(browser, null, { viewport: { width: 440, height: 760 }, width: 400, height: 660, thread: andrew.id });
  await narrow.chat.locator('.inquiry-card').waitFor();
  await narrow.page.screenshot({ path: join(out, 'chat-narrow.png') });
  await narrow.context.close();

  // The console on the demo property, the Booking.com conversation open.
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${SERVER}/console#property=${property.id}&thread=${roxy.id}`);
  await page.locator('#token').fill(ADMIN_TOKEN);
  await page.locator('#login button[type=submit]').click();
  await page.locator('#conversation .msg').first().waitFor();
  await page.locator('#live[data-state="open"]').waitFor();
  await page.locator('.guest-composer textarea').fill('Can we also book dinner for two on Friday?');
  await page.locator('.guest-composer textarea').press('Enter');
  // Four guest messages so far (Roxy, Jonas, Chen, and this one): four deliveries.
  await eventually(async () => (await page.locator('#deliveries .badge.delivered').count()) >= 4, 'deliveries', 10000);
  await page.locator('#deliveries details summary').first().click();
  await page.locator('#outbox .entry').first().waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(out, 'console.png') });
  await context.close();
} finally {
  await browser.close();
}
console.log(`screenshots written to ${out}`);
