// The chat in a 400 px wide frame: one pane at a time, a back button, nothing wider than the frame.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newConversation, newTenant, openChat } from '../support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function overflow(chat) {
  return chat.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

describe('a 400 px wide frame', () => {
  test('shows the list, then the conversation with a back button, and fits', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant, {
      name: 'Wilhelmina-Konstantina',
      surname: 'Oberhausen-Schwarzenberg',
      text: `A long word: ${'x'.repeat(120)} and a long link https://example.com/${'y'.repeat(80)}`,
    });
    const { chat, context, problems } = await openChat(browser, tenant, { width: 400, height: 640 });
    assert.equal(await chat.evaluate(() => window.innerWidth), 400);
    const row = chat.locator(`li[data-thread-id="${threadId}"] button`);
    await row.waitFor();
    assert.ok(await row.isVisible());
    assert.equal(await chat.locator('#conversation').isVisible(), false);
    assert.ok(await overflow(chat) <= 0, 'the list is wider than the frame');

    await row.click();
    await chat.locator('.msg-guest').first().waitFor();
    assert.equal(await chat.locator('.list-pane').isVisible(), false);
    const back = chat.locator('button.back');
    assert.ok(await back.isVisible());
    assert.ok(await chat.locator('.composer-text').isVisible());
    assert.ok(await chat.locator('button.send').isVisible());
    assert.ok(await chat.locator('button.close').isVisible());
    assert.ok(await overflow(chat) <= 0, 'the conversation is wider than the frame');
    // Positions inside the frame.
    const rect = (selector) => chat.locator(selector).first().evaluate((el) => {
      const r = el.getBoundingClientRect();
      return { left: r.left, right: r.right };
    });
    const box = await rect('.composer');
    assert.ok(box.left >= 0 && box.right <= 400, `composer at ${JSON.stringify(box)}`);
    const bubble = await rect('.msg-guest .bubble');
    assert.ok(bubble.left >= 0 && bubble.right <= 400, `bubble at ${JSON.stringify(bubble)}`);

    // The booking panel opens above the messages and closes again.
    await chat.locator('button.booking-toggle').click();
    await chat.locator('.booking-panel .booking-card').waitFor();
    assert.ok(await overflow(chat) <= 0, 'the booking panel is wider than the frame');
    await chat.locator('button.booking-toggle').click();

    await back.click();
    await row.waitFor({ state: 'visible' });
    assert.equal(await chat.locator('#conversation').isVisible(), false);
    assert.deepEqual(await problems(), []);
    await context.close();
  });

  test('a wide frame shows both panes and no back button', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, context } = await openChat(browser, tenant, { width: 1100, thread: threadId });
    await chat.locator('.msg-guest').first().waitFor();
    assert.ok(await chat.locator('.list-pane').isVisible());
    assert.ok(await chat.locator('#conversation').isVisible());
    assert.equal(await chat.locator('button.back').isVisible(), false);
    await context.close();
  });
});
