// What the property does in the chat: answer with text (Enter sends, Shift+Enter is a new
// line) and attachments; close, reopen, and "no reply needed" on Booking.com threads.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, api, eventually, guestWrites, launch, newConversation, newTenant, openChat, pngBase64 } from '../support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function thread(tenant, id) {
  return (await api(tenant.key, 'GET', `/message_threads/${id}`)).data;
}

async function outbox(tenant) {
  return (await admin('GET', `/outbox?filter%5Bproperty_id%5D=${tenant.propertyId}&pagination%5Blimit%5D=100`)).data;
}

describe('the property answers', () => {
  test('with text: Enter sends, Shift+Enter makes a new line, and the message reaches the OTA', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, context, problems } = await openChat(browser, tenant, { thread: threadId });
    const box = chat.locator('.composer-text');
    await box.waitFor();
    await box.click();
    await box.pressSequentially('Yes, breakfast');
    await box.press('Shift+Enter');
    await box.pressSequentially('is included.');
    assert.equal(await chat.locator('.msg-property').count(), 0, 'Shift+Enter sent');
    await box.press('Enter');
    const sent = chat.locator('.msg-property .msg-text');
    await sent.waitFor();
    assert.equal(await sent.textContent(), 'Yes, breakfast\nis included.');
    assert.equal(await box.inputValue(), '');

    const messages = (await api(tenant.key, 'GET', `/message_threads/${threadId}/messages`)).data;
    assert.equal(messages[0].attributes.sender, 'property');
    assert.equal(messages[0].attributes.message, 'Yes, breakfast\nis included.');
    const sentToOta = await outbox(tenant);
    assert.equal(sentToOta.length, 1);
    assert.equal(sentToOta[0].attributes.kind, 'message');
    // Sent once, even though the live stream reports it too.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await chat.locator('.msg-property').count(), 1);
    assert.deepEqual(await problems(), []);
    await context.close();
  });

  test('with an image (previewed through the Bearer download) and a document (a link)', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, page, context, problems } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('.composer-text').waitFor();

    const png = Buffer.from(await pngBase64(page, 80, 60), 'base64');
    await chat.locator('.composer input[type=file]').setInputFiles({ name: 'room.png', mimeType: 'image/png', buffer: png });
    await chat.locator('.chip:not(.is-loading)').waitFor();
    await chat.locator('.composer-text').fill('The room');
    await chat.locator('button.send').click();
    const img = chat.locator('.msg-property img.preview');
    await img.waitFor();
    assert.match(await img.getAttribute('src'), /^blob:/);
    await eventually(() => img.evaluate((el) => el.complete && el.naturalWidth === 80), 'the image did not load');
    assert.equal(await chat.locator('.msg-property .msg-text').first().textContent(), 'The room');

    // A document alone, without text.
    await chat.locator('.composer input[type=file]').setInputFiles({ name: 'house rules.txt', mimeType: 'text/plain', buffer: Buffer.from('No parties.\n') });
    await chat.locator('.chip:not(.is-loading)').waitFor();
    await chat.locator('.composer-text').press('Enter');
    const link = chat.locator('.msg-property a.file', { hasText: 'house rules.txt' });
    await link.waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'house rules.txt');
    const path = await download.path();
    const { readFile } = await import('node:fs/promises');
    assert.equal(await readFile(path, 'utf8'), 'No parties.\n');

    const messages = (await api(tenant.key, 'GET', `/message_threads/${threadId}/messages`)).data;
    const withFiles = messages.filter((m) => m.attributes.sender === 'property');
    assert.equal(withFiles.length, 2);
    assert.ok(withFiles.every((m) => m.attributes.attachments.length === 1));
    assert.deepEqual(await problems(), []);
    await context.close();
  });

  test('a refused send says so, with the server\'s details, and keeps the text', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, context } = await openChat(browser, tenant, { thread: threadId });
    const box = chat.locator('.composer-text');
    await box.waitFor();
    await context.route('**/api/v1/message_threads/*/messages', (route) => (route.request().method() === 'POST'
      ? route.fulfill({
        status: 422,
        contentType: 'application/json',
        body: JSON.stringify({ errors: { code: 'validation_error', title: 'Validation Error', details: { message: ['is too long'] } } }),
      })
      : route.continue()));
    await box.fill('This will be refused');
    await box.press('Enter');
    await chat.locator('#notice').waitFor();
    const notice = await chat.locator('#notice').textContent();
    assert.match(notice, /Could not send the message/);
    assert.match(notice, /message: is too long/);
    assert.equal(await box.inputValue(), 'This will be refused');
    assert.equal(await chat.locator('.msg-property').count(), 0);
    await context.close();
  });
});

describe('thread actions', () => {
  test('close and reopen', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, context, problems } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('button.close').click();
    await chat.locator('button.reopen').waitFor();
    await chat.locator('.conv-badges .closed').waitFor();
    await chat.locator(`li[data-thread-id="${threadId}"] .badge.closed`).waitFor();
    assert.equal((await thread(tenant, threadId)).attributes.is_closed, true);
    assert.ok(await chat.locator('.closed-notice').isVisible());

    await chat.locator('button.reopen').click();
    await chat.locator('button.close').waitFor();
    assert.equal((await thread(tenant, threadId)).attributes.is_closed, false);
    assert.equal(await chat.locator('.conv-badges .closed').count(), 0);

    // Closed again, a guest message reopens it, live.
    await chat.locator('button.close').click();
    await chat.locator('button.reopen').waitFor();
    await guestWrites(threadId, 'One more question');
    await chat.locator('button.close').waitFor({ timeout: 2000 });
    assert.deepEqual(await problems(), []);
    await context.close();
  });

  test('no reply needed on a Booking.com thread', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant, { text: 'Thanks, all good!' });
    const { chat, context } = await openChat(browser, tenant, { thread: threadId });
    const button = chat.locator('button.no-reply');
    await button.waitFor();
    assert.equal(await button.isEnabled(), true);
    await button.click();
    await eventually(async () => (await button.textContent()) === 'No reply needed ✓' && !(await button.isEnabled()), 'not marked');
    const entries = await outbox(tenant);
    assert.deepEqual(entries.map((e) => e.attributes.kind), ['no_reply_needed']);
    // A new guest message needs a reply again.
    await guestWrites(threadId, 'Actually, one more thing');
    await eventually(async () => (await button.textContent()) === 'No reply needed' && button.isEnabled(), 'not needing a reply again');
    await context.close();
  });
});
