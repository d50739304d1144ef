// Live updates: a guest message made through the admin API appears in the open chat within a
// second, without a reload; other threads get the unread marker; a dropped stream resumes
// without losing or repeating a message.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, guestWrites, launch, newConversation, newTenant, openChat } from '../support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

describe('live updates', () => {
  test('a guest message appears in the open conversation within one second', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant, { name: 'Live', surname: 'Guest' });
    const { chat, page, context, problems } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('.msg-guest').first().waitFor();
    const loads = [];
    page.on('framenavigated', (f) => loads.push(f.url()));

    for (const n of [1, 2, 3]) {
      const text = `Live message ${n} ${Date.now()}`;
      const shown = chat.locator('.msg-guest .msg-text', { hasText: text }).waitFor({ timeout: 5000 });
      await guestWrites(threadId, text);
      const written = Date.now();
      await shown;
      const elapsed = Date.now() - written;
      assert.ok(elapsed < 1000, `message ${n} took ${elapsed} ms to appear`);
    }
    // The thread row follows, and the open thread is not marked unread.
    const row = chat.locator(`li[data-thread-id="${threadId}"]`);
    await eventually(async () => /Live message 3/.test(await row.locator('.thread-preview').textContent()), 'preview not updated');
    assert.equal(await row.locator('.unread-dot').count(), 0);
    assert.deepEqual(loads, [], 'the chat reloaded');
    assert.deepEqual(await problems(), []);
    await context.close();
  });

  test('a guest message on another thread marks it unread and tells the host page the count', async () => {
    const tenant = await newTenant();
    const first = await newConversation(tenant, { name: 'Open', surname: 'Thread', text: 'hello' });
    const other = await newConversation(tenant, { name: 'Other', surname: 'Thread', text: 'hi' });
    const { chat, page, context } = await openChat(browser, tenant, { thread: first.threadId });
    await chat.locator('.msg-guest').first().waitFor();
    const row = chat.locator(`li[data-thread-id="${other.threadId}"]`);
    // Seen once, so read...
    await row.locator('button').click();
    await chat.locator('.msg-guest', { hasText: 'hi' }).waitFor();
    await row.locator('.unread-dot').waitFor({ state: 'detached' });
    await chat.locator(`li[data-thread-id="${first.threadId}"] button`).click();
    await chat.locator('.msg-guest', { hasText: 'hello' }).waitFor();
    await eventually(async () => (await page.locator('#unread').textContent()) === '', 'host badge not cleared');
    // ...then the guest writes again: unread, moved to the top, badge on the host page.
    await guestWrites(other.threadId, 'Are you there?');
    await row.locator('.unread-dot').waitFor({ timeout: 2000 });
    assert.match(await row.locator('.thread-preview').textContent(), /Are you there\?/);
    assert.equal(await chat.locator('li[data-thread-id]').first().getAttribute('data-thread-id'), other.threadId);
    await eventually(async () => (await page.locator('#unread').textContent()) === '1', 'host badge not set');
    await context.close();
  });

  test('after a lost connection the stream resumes with Last-Event-ID: nothing missed, nothing twice', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant, { name: 'Resume', surname: 'Guest', text: 'start' });
    const { chat, context } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('.msg-guest', { hasText: 'start' }).waitFor();
    // Learn a stream id first, so that the reconnect has something to resume from.
    await guestWrites(threadId, 'before the cut');
    await chat.locator('.msg-guest', { hasText: 'before the cut' }).waitFor();

    const streams = [];
    context.on('request', (r) => {
      if (r.url().includes('/events/stream')) streams.push(r.headers()['last-event-id'] ?? null);
    });
    await context.setOffline(true);
    // Cut the open stream: the page sees the network go away.
    await chat.evaluate(() => window.dispatchEvent(new Event('offline')));
    await chat.locator('#live').waitFor({ state: 'visible', timeout: 20000 }).catch(() => {});
    for (const n of [1, 2, 3]) await guestWrites(threadId, `while offline ${n}`);
    await context.setOffline(false);
    await chat.evaluate(() => window.dispatchEvent(new Event('online')));
    for (const n of [1, 2, 3]) {
      await chat.locator('.msg-guest', { hasText: `while offline ${n}` }).waitFor({ timeout: 20000 });
    }
    const texts = await chat.locator('.msg-guest .msg-text').allTextContents();
    assert.deepEqual(texts, ['start', 'before the cut', 'while offline 1', 'while offline 2', 'while offline 3']);
    assert.ok(streams.some((id) => id !== null && /^\d+$/.test(id)), `no reconnect with Last-Event-ID: ${JSON.stringify(streams)}`);
    await chat.locator('#live').waitFor({ state: 'hidden', timeout: 5000 });
    await context.close();
  });
});

describe('live updates without a stream id yet', () => {
  test('a chat that has seen no event yet misses nothing across a lost connection', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant, { name: 'Fresh', surname: 'Chat', text: 'first' });
    const { chat, context } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('.msg-guest', { hasText: 'first' }).waitFor();
    // No event has reached this chat: the cut comes before it learnt any stream id.
    await context.setOffline(true);
    await chat.evaluate(() => window.dispatchEvent(new Event('offline')));
    await chat.locator('#live').waitFor({ state: 'visible', timeout: 20000 });
    for (const n of [1, 2]) await guestWrites(threadId, `during the cut ${n}`);
    await context.setOffline(false);
    await chat.evaluate(() => window.dispatchEvent(new Event('online')));
    for (const n of [1, 2]) {
      await chat.locator('.msg-guest', { hasText: `during the cut ${n}` }).waitFor({ timeout: 10000 });
    }
    const texts = await chat.locator('.msg-guest .msg-text').allTextContents();
    assert.deepEqual(texts, ['first', 'during the cut 1', 'during the cut 2']);
    await context.close();
  });
});
