// The chat opened from the example PMS page: the demo's threads, the inquiry card, the booking
// panel, thread_id in redirect_to, languages, and storage-free operation.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newConversation, newInquiry, newTenant, openChat, SERVER } from '../support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

describe('the chat', () => {
  test('the thread list shows the demo threads with their provider, preview and unread marker', async () => {
    const { chat, problems, context } = await openChat(browser, null);
    const roxy = chat.locator('li[data-thread-id]', { hasText: 'Roxy' });
    const andrew = chat.locator('li[data-thread-id]', { hasText: 'Andrew' });
    await roxy.waitFor();
    await andrew.waitFor();
    assert.equal(await roxy.locator('.provider').textContent(), 'Booking.com');
    assert.equal(await andrew.locator('.provider').textContent(), 'Airbnb');
    assert.match(await andrew.locator('.thread-preview').textContent(), /Is the flat free/);
    assert.notEqual(await roxy.locator('.thread-time').textContent(), '');
    // Both guests wrote last and nobody has looked yet: both are unread.
    assert.equal(await chat.locator('.unread-dot').count(), 2);

    // The inquiry's system message is a details card.
    await andrew.locator('button').click();
    const card = chat.locator('.inquiry-card');
    await card.waitFor();
    const facts = await card.locator('dl').textContent();
    assert.match(facts, /Demo Hotel, sea-view flat/);
    assert.match(facts, /Nights\s*2/);
    assert.match(facts, /320/);
    await chat.locator('.msg-guest', { hasText: 'Is the flat free' }).waitFor();
    // Opened: read.
    await chat.locator('li[data-thread-id]', { hasText: 'Andrew' }).locator('.unread-dot').waitFor({ state: 'detached' });
    assert.equal(await chat.locator('.unread-dot').count(), 1);
    // An Airbnb thread has no "no reply needed".
    assert.equal(await chat.locator('button.no-reply').count(), 0);
    assert.deepEqual(await problems(), []);
    await context.close();
  });

  test('redirect_to=/messages/<thread_id> opens that thread, with its booking panel', async () => {
    const tenant = await newTenant();
    await newConversation(tenant, { name: 'Other', surname: 'Guest', text: 'first thread' });
    const { threadId, booking } = await newConversation(tenant, { name: 'Marta', surname: 'Reis', text: 'Can I bring a dog?' });
    const { chat, problems, context } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('.msg-guest', { hasText: 'Can I bring a dog?' }).waitFor();
    assert.equal(await chat.locator('.conv-title').textContent(), 'Marta Reis');
    const panel = chat.locator('.booking-panel .booking-card');
    await panel.waitFor();
    const text = await panel.textContent();
    assert.match(text, new RegExp(booking.attributes.ota_reservation_code));
    assert.match(text, /Booking\.com/);
    // The panel can be hidden and shown again.
    await chat.locator('button.booking-toggle').click();
    await panel.waitFor({ state: 'hidden' });
    await chat.locator('button.booking-toggle').click();
    await panel.waitFor();
    assert.deepEqual(await problems(), []);
    await context.close();
  });

  test('without messages_show_booking there is no booking panel; hide_messages_attach_btn hides the attach button', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, context } = await openChat(browser, tenant, { thread: threadId, show_booking: 0, hide_attach: 1 });
    await chat.locator('.msg-guest').first().waitFor();
    await chat.locator('.composer-text').waitFor();
    assert.equal(await chat.locator('button.booking-toggle').count(), 0);
    assert.equal(await chat.locator('.booking-panel .booking-card').count(), 0);
    assert.equal(await chat.locator('button.attach').count(), 0);
    assert.equal(await chat.locator('input[type=file]').count(), 0);
    await context.close();

    const normal = await openChat(browser, tenant, { thread: threadId });
    await normal.chat.locator('button.attach').waitFor();
    await normal.context.close();
  });

  test('lng picks the language (German here), and every language has every string', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, context } = await openChat(browser, tenant, { lng: 'de', thread: threadId });
    await chat.locator('.msg-guest').first().waitFor();
    assert.equal(await chat.locator('#list-title').textContent(), 'Nachrichten');
    assert.equal(await chat.locator('button.close').textContent(), 'Schließen');
    assert.equal(await chat.locator('button.no-reply').textContent(), 'Keine Antwort nötig');
    assert.equal(await chat.locator('.composer-text').getAttribute('placeholder'), 'Nachricht schreiben…');
    assert.equal(await chat.evaluate(() => document.documentElement.lang), 'de');
    const missing = await chat.evaluate(async () => {
      const { STRINGS } = await import('/ui/i18n.js');
      const keys = Object.keys(STRINGS.en);
      const out = [];
      for (const [lang, table] of Object.entries(STRINGS)) {
        for (const k of keys) if (typeof table[k] !== 'string' || !table[k]) out.push(`${lang}.${k}`);
        for (const k of Object.keys(table)) if (!keys.includes(k)) out.push(`${lang}.${k} (unknown)`);
      }
      return { out, langs: Object.keys(STRINGS) };
    });
    assert.deepEqual(missing.out, []);
    for (const lang of ['en', 'es', 'de', 'pt']) assert.ok(missing.langs.includes(lang), lang);
    await context.close();
  });

  test('an inquiry created while the chat is open appears in the list', async () => {
    const tenant = await newTenant();
    await newConversation(tenant);
    const { chat, context } = await openChat(browser, tenant);
    await chat.locator('li[data-thread-id]').first().waitFor();
    await newInquiry(tenant, { guest: 'Lucía', text: '¿Está libre?' });
    const row = chat.locator('li[data-thread-id]', { hasText: 'Lucía' });
    await row.waitFor({ timeout: 3000 });
    assert.match(await row.locator('.thread-preview').textContent(), /¿Está libre\?/);
    await context.close();
  });

  test('the chat needs no cookie and no storage, and sends only the Bearer session', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, context, problems } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('.msg-guest').first().waitFor();
    const cookies = await context.cookies(SERVER);
    assert.deepEqual(cookies, []);
    // The token is not left in the page.
    assert.equal(await chat.locator('#ota-boot').count(), 0);
    assert.deepEqual(await problems(), []);
    await context.close();
  });
});
