#!/usr/bin/env node
// The web client a person opens (docker/web/index.html, served by the demo's
// Prosody or the compose stack's nginx), in Debian's headless Chromium: fill
// Converse's login form as a person does, land in the room the page joins,
// say something, see it in the room, keep a screenshot.
//
//   node tests/browser/webclient.mjs --url http://127.0.0.1:15280/ \
//       --user alice --password PW --say 'hello' --screenshot out.png \
//       [--commands rooms.localhost]
//
// --commands: then, as docs/moderators.md tells a moderator, open the
// settings (the cog), the Commands tab, list the commands of that service,
// open "List open reports", then "View a report" on the first open report
// and complete it with "Nothing for now" (screenshots OUT-commands.png,
// OUT-reports.png, OUT-view.png).
// Exit status 0 when the message shows in the room; 1 with
// "webclient.mjs: FAILED: ..." (and a screenshot) otherwise.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: o } = parseArgs({
    options: {
        url: { type: 'string' }, user: { type: 'string' }, password: { type: 'string' },
        say: { type: 'string' }, screenshot: { type: 'string' }, commands: { type: 'string' },
    },
});
for (const k of ['url', 'user', 'password', 'say', 'screenshot']) {
    if (!o[k]) { process.stderr.write(`webclient.mjs: --${k} is required\n`); process.exit(2); }
}
const browser = await chromium.launch({
    executablePath: process.env.STOA_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage',
        '--no-first-run', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--disable-quic'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const origin = new URL(o.url).origin;
// Nothing but the page's own origin: the web client must need no other host.
await page.route('**/*', (r) => (r.request().url().startsWith(origin) || r.request().url().startsWith('data:')
    ? r.continue() : r.abort()));
fs.mkdirSync(path.dirname(path.resolve(o.screenshot)), { recursive: true });
const step = (s) => process.stdout.write(`webclient.mjs: ${s}\n`);
try {
    await page.goto(o.url);
    step('page loaded');
    await page.getByPlaceholder('Username').fill(o.user, { timeout: 20000 });
    await page.getByPlaceholder('Password').fill(o.password);
    await page.screenshot({ path: o.screenshot.replace(/\.png$/, '-login.png') });
    await page.getByPlaceholder('Password').press('Enter');
    step('logged in; waiting for the room');
    const input = page.locator('converse-muc textarea.chat-textarea');
    await input.waitFor({ timeout: 30000 });
    step('in the room');
    await input.fill(o.say);
    await input.press('Enter');
    await page.locator('converse-muc .chat-msg__text', { hasText: o.say }).first()
        .waitFor({ timeout: 20000 });
    step('message shown in the room');
    await page.screenshot({ path: o.screenshot });
    if (o.commands) {
        await page.locator('a.show-client-info').first().click();
        await page.locator('.modal .nav-link', { hasText: 'Commands' }).click();
        await page.locator('.modal input[name=jid]').fill(o.commands);
        await page.locator('.modal input[type=submit]').first().click();
        const list = page.locator('.modal a', { hasText: 'List open reports' });
        await list.waitFor({ timeout: 20000 });
        step(`the commands of ${o.commands} listed`);
        await page.screenshot({ path: o.screenshot.replace(/\.png$/, '-commands.png') });
        await list.click();
        await page.locator('.modal', { hasText: 'Open reports' }).first().waitFor({ timeout: 20000 });
        await page.waitForTimeout(500);
        step('"List open reports" answered');
        await page.screenshot({ path: o.screenshot.replace(/\.png$/, '-reports.png') });
        // View a report: pick the first open one, see it, act ("Nothing for now").
        await page.locator('.modal a', { hasText: 'View a report' }).click();
        await page.locator('.modal input[data-action=next]').click();
        const form = page.locator('.modal form', { hasText: "Reporter's words" }).last();
        await form.waitFor({ timeout: 20000 });
        step('"View a report" shows a report and its actions');
        await form.locator('select[name=action]').scrollIntoViewIfNeeded();
        await page.screenshot({ path: o.screenshot.replace(/\.png$/, '-view.png') });
        await form.locator('select[name=action]').selectOption('none');
        await form.locator('input[data-action=complete]').click();
        await page.locator('.modal input[data-action=complete]').waitFor({ state: 'detached', timeout: 20000 });
        step('the action was sent (Complete)');
    }
    await browser.close();
} catch (e) {
    await page.screenshot({ path: o.screenshot }).catch(() => {});
    process.stderr.write(`webclient.mjs: FAILED: ${e.message}\n`);
    await browser.close();
    process.exit(1);
}
