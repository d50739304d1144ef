// Guest text stays text; a spent or unknown one-time token opens nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, frameOf, guestWrites, HOST, launch, newConversation, newInquiry, newTenant, openChat, SERVER } from '../support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const PAYLOADS = [
  '<script>window.__pwned = "script"; alert("script")</script>',
  '<img src=x onerror="window.__pwned = \'img\'; alert(\'img\')">',
  '<a href="javascript:alert(1)">click</a> <b>bold</b> <svg onload=alert(2)>',
];

describe('guest text is text', () => {
  test('markup in guest messages, names and previews creates no element and runs nothing', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant, {
      name: '<img src=x onerror="window.__pwned=\'name\'">',
      surname: '<b>Bold</b>',
      text: 'hello',
    });
    const { chat, context, problems } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('.msg-guest', { hasText: 'hello' }).waitFor();
    // Live and after a reload of the list alike.
    for (const text of PAYLOADS) await guestWrites(threadId, text);
    for (const text of PAYLOADS) {
      await chat.locator('.msg-guest .msg-text').filter({ hasText: text }).waitFor({ timeout: 3000 });
    }
    const texts = await chat.locator('.msg-guest .msg-text').allTextContents();
    assert.deepEqual(texts.slice(-3), PAYLOADS);
    const found = await chat.evaluate(() => ({
      pwned: window.__pwned ?? null,
      scripts: [...document.querySelectorAll('body script')].length,
      imgs: [...document.querySelectorAll('img')].map((i) => i.getAttribute('src')),
      svgOnload: document.querySelectorAll('svg[onload]').length,
      bold: document.querySelectorAll('.messages b, .threads b, .conv-title b').length,
      jsLinks: [...document.querySelectorAll('a')].filter((a) => a.href.startsWith('javascript:')).length,
      title: document.querySelector('.conv-title').textContent,
      preview: document.querySelector(`li[data-thread-id] .thread-preview`).textContent,
    }));
    assert.equal(found.pwned, null);
    assert.equal(found.scripts, 0);
    assert.deepEqual(found.imgs, []);
    assert.equal(found.svgOnload, 0);
    assert.equal(found.bold, 0);
    assert.equal(found.jsLinks, 0);
    assert.match(found.title, /<img src=x onerror=/);
    assert.match(found.preview, /<a href="javascript:alert\(1\)">/);
    // Reopening the chat renders the stored history the same way.
    await context.close();
    const again = await openChat(browser, tenant, { thread: threadId });
    await again.chat.locator('.msg-guest .msg-text').filter({ hasText: PAYLOADS[2] }).waitFor();
    assert.equal(await again.chat.evaluate(() => window.__pwned ?? null), null);
    assert.equal(await again.chat.locator('.messages img, .messages script, .messages svg[onload]').count(), 0);
    assert.deepEqual([...(await problems()), ...(await again.problems())], []);
    await again.context.close();
  });

  test('links in guest text are plain http(s) links that open outside the frame', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant, { text: 'See https://example.com/map?x=1 and javascript:alert(1)' });
    const { chat, context } = await openChat(browser, tenant, { thread: threadId });
    const link = chat.locator('.msg-guest .msg-text a');
    await link.waitFor();
    assert.equal(await link.count(), 1);
    assert.equal(await link.getAttribute('href'), 'https://example.com/map?x=1');
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.match(await link.getAttribute('rel'), /noopener/);
    await context.close();
  });
});

/** A 1×1 PNG, so that an image attachment is previewed. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const MARK = (where) => `<img src=x onerror="window.__pwned='${where}'"><b>${where}</b>`;
/** The same for file names, which may not contain a slash. */
const FILE_MARK = (where) => `<img src=x onerror="window.__pwned='${where}'"><b>${where}`;

/** What markup would have made of the page: elements it created, scripts it ran. */
function injected(frame) {
  return frame.evaluate(() => ({
    pwned: window.__pwned ?? null,
    // Previews are blob: images of the attachments; anything else is markup that became an element.
    imgs: [...document.querySelectorAll('img')].map((i) => i.getAttribute('src')).filter((src) => !src?.startsWith('blob:')),
    bold: document.querySelectorAll('#app b').length,
  }));
}

describe('guest and booking data are text everywhere', () => {
  test('booking panel, attachment names and the inquiry card show markup as text', async () => {
    const tenant = await newTenant();
    const booking = (await admin('POST', '/bookings', {
      booking: {
        property_id: tenant.propertyId,
        ota_name: 'BookingCom',
        arrival_date: '2031-05-01',
        departure_date: '2031-05-04',
        ota_reservation_code: MARK('code'),
        customer: { name: MARK('name'), surname: MARK('surname'), phone: MARK('phone').slice(0, 50) },
        notes: MARK('notes'),
      },
    })).data;
    const first = (await admin('POST', `/bookings/${booking.id}/guest_messages`, {
      message: {
        message: 'files attached',
        attachments: [
          { file: PNG, file_name: `${FILE_MARK('image')}.png`, file_type: 'image/png' },
          { file: Buffer.from('hello').toString('base64'), file_name: `${FILE_MARK('file')}.txt`, file_type: 'text/plain' },
        ],
      },
    })).data;
    const threadId = first.relationships.message_thread.data.id;
    const { chat, context, problems } = await openChat(browser, tenant, { thread: threadId, show_booking: 1 });
    const panel = chat.locator('.booking-panel .booking-card');
    await panel.waitFor();
    const facts = await panel.textContent();
    for (const where of ['code', 'name', 'surname', 'notes']) assert.ok(facts.includes(MARK(where)), `${where} in ${facts}`);
    await chat.locator('.msg-guest img.preview').waitFor();
    const names = await chat.locator('.msg-guest .attachment').allTextContents();
    assert.ok(names.some((n) => n.includes(`${FILE_MARK('file')}.txt`)), JSON.stringify(names));
    assert.equal(await chat.locator('.msg-guest img.preview').getAttribute('alt'), `${FILE_MARK('image')}.png`);
    assert.deepEqual(await injected(chat), { pwned: null, imgs: [], bold: 0 });

    // An inquiry whose guest and listing carry markup: the details card and the list row.
    const inquiry = await newInquiry(tenant, { guest: MARK('guest'), text: MARK('inquiry message') });
    const row = chat.locator(`li[data-thread-id="${inquiry.id}"]`);
    await row.waitFor({ timeout: 3000 });
    await row.locator('button').click();
    const card = chat.locator('.inquiry-card');
    await card.waitFor();
    assert.ok((await card.textContent()).includes(MARK('guest')));
    await chat.locator('.msg-guest .msg-text', { hasText: MARK('inquiry message') }).waitFor();
    assert.deepEqual(await injected(chat), { pwned: null, imgs: [], bold: 0 });
    assert.deepEqual(await problems(), []);
    await context.close();
  });
});

describe('one-time tokens', () => {
  test('a spent token is refused with an error page, and opens no chat', async () => {
    const tenant = await newTenant();
    await newConversation(tenant);
    const { chat, context } = await openChat(browser, tenant);
    await chat.locator('li[data-thread-id]').first().waitFor();
    const src = chat.url();
    assert.ok(src.startsWith(`${SERVER}/auth/exchange?`), src);

    // The same URL again, as a reload or a copied link would do.
    const page = await context.newPage();
    const res = await page.goto(src);
    assert.notEqual(res.status(), 200);
    assert.equal(await page.locator('#app').count(), 0);
    assert.equal(await page.locator('#ota-boot').count(), 0);
    const body = await page.locator('body').textContent();
    assert.match(body, /already been used|used/i);
    assert.doesNotMatch(body, /ois_|panicked|stack|sqlx/);
    // And inside the PMS page's iframe: no chat either.
    await page.close();
    const host = await context.newPage();
    await host.goto(`${HOST}/?property=${tenant.propertyId}`);
    const frame = await frameOf(host);
    await frame.locator('li[data-thread-id]').first().waitFor();
    await frame.goto(src);
    assert.equal(await frame.locator('#app').count(), 0);
    await context.close();
  });

  test('an unknown token shows the error page in the asked language', async () => {
    const tenant = await newTenant();
    const context = await browser.newContext();
    const page = await context.newPage();
    const res = await page.goto(`${SERVER}/auth/exchange?oauth_session_key=not-a-token&app_mode=headless&redirect_to=/messages&property_id=${tenant.propertyId}&lng=es`);
    assert.notEqual(res.status(), 200);
    assert.equal(await page.locator('#app').count(), 0);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'es');
    await context.close();
  });

  test('a chat whose session ends says so instead of failing silently', async () => {
    const tenant = await newTenant();
    const { threadId } = await newConversation(tenant);
    const { chat, context } = await openChat(browser, tenant, { thread: threadId });
    await chat.locator('.msg-guest').first().waitFor();
    // Revoking the key that minted the token ends its chat sessions.
    await admin('DELETE', `/api_keys/${tenant.keyId}`);
    await chat.locator('.composer-text').fill('Anyone there?');
    await chat.locator('.composer-text').press('Enter');
    await chat.locator('.ended').waitFor({ timeout: 5000 });
    assert.match(await chat.locator('.ended').textContent(), /session has ended/);
    await context.close();
  });
});
