#!/usr/bin/env node
// Stoa's browser test driver: Converse.js in Debian's headless Chromium,
// driven by playwright-core.
//
//   node tests/browser/run.mjs --page http://127.0.0.1:PORT/index.html \
//       --ws ws://127.0.0.1:PORT/xmpp-websocket --jid alice@localhost \
//       --password PW --room lobby@rooms.localhost --nick alice-web \
//       --peer bob-bot --send 'hello from the browser' --expect 'hello back' \
//       --screenshot .state/test-logs/browser/room.png \
//       [--room-avatar BASE64-PNG]
//
// Steps: open the page (Converse logs in over WebSocket and joins the room),
// wait until the occupant list shows --nick and --peer, send --send into the
// room, wait for its reflection, then wait for a message from --peer whose
// text is --expect, and keep a screenshot. With --room-avatar, the room's
// heading must show that image (the room's vCard, XEP-0486) before the
// message is sent, and the heading gets a screenshot of its own
// (room-avatar.png beside --screenshot). Any request to a host other than
// loopback is refused and fails the run. Progress goes to stdout as lines
// "run.mjs: STEP ...", the browser's console to --console-log. Exit status:
// 0 when every step passed, 1 with "run.mjs: FAILED: ..." on stderr (and a
// screenshot of the failure) otherwise, 2 for bad arguments.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.STOA_CHROMIUM || '/usr/bin/chromium';
// The machine's rules for Chromium: root needs --no-sandbox; the closed
// network refuses Google's hosts, so no background traffic at all.
const CHROMIUM_ARGS = [
    '--no-sandbox',
    '--headless',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
];

function usage(msg) {
    process.stderr.write(`run.mjs: ${msg}\n`);
    process.exit(2);
}

let opts;
try {
    ({ values: opts } = parseArgs({
        options: {
            page: { type: 'string' },
            ws: { type: 'string' },
            jid: { type: 'string' },
            password: { type: 'string' },
            room: { type: 'string' },
            nick: { type: 'string' },
            peer: { type: 'string' },
            send: { type: 'string' },
            expect: { type: 'string' },
            screenshot: { type: 'string' },
            'room-avatar': { type: 'string' },
            'console-log': { type: 'string' },
            timeout: { type: 'string', default: '45' },
        },
        strict: true,
    }));
} catch (e) {
    usage(e.message);
}
for (const k of ['page', 'ws', 'jid', 'password', 'room', 'nick', 'peer', 'send', 'expect', 'screenshot']) {
    if (!opts[k]) usage(`--${k} is required`);
}
const totalSeconds = Number(opts.timeout);
if (!(totalSeconds > 0)) usage('--timeout must be a positive number of seconds');
if (!fs.existsSync(CHROMIUM)) {
    process.stderr.write(`run.mjs: FAILED: no Chromium at ${CHROMIUM} (Debian's package 'chromium')\n`);
    process.exit(1);
}

const t0 = Date.now();
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(2);
const step = (msg) => process.stdout.write(`run.mjs: STEP ${msg} (${elapsed()}s)\n`);
const deadline = t0 + totalSeconds * 1000;
const remaining = () => Math.max(1000, deadline - Date.now());

const consoleLog = opts['console-log'] ? fs.createWriteStream(opts['console-log']) : null;
const recent = []; // the page's last lines, for the failure report
const logLine = (line) => {
    const l = `[${elapsed()}s] ${line}`;
    consoleLog?.write(`${l}\n`);
    recent.push(l.length > 600 ? `${l.slice(0, 600)}...` : l);
    if (recent.length > 15) recent.shift();
};

const local = new Set(['127.0.0.1', 'localhost', '[::1]']);
const refused = [];
const pageErrors = [];
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'stoa-chromium-'));
let context = null;
let page = null;
let current = 'launch Chromium';

// A hard stop in case something hangs outside the awaited timeouts.
const watchdog = setTimeout(() => {
    process.stderr.write(`run.mjs: FAILED: ${current}: still running after ${totalSeconds + 15}s\n`);
    try { fs.rmSync(profile, { recursive: true, force: true }); } catch { /* exiting */ }
    process.exit(1);
}, (totalSeconds + 15) * 1000);
watchdog.unref();

function pageUrl() {
    const u = new URL(opts.page);
    for (const k of ['ws', 'jid', 'password', 'room', 'nick']) u.searchParams.set(k, opts[k]);
    return u.href;
}

async function occupantNicks() {
    return page.evaluate((room) => {
        const muc = document.querySelector(`converse-muc[jid="${room}"]`);
        if (!muc) return null;
        return [...muc.querySelectorAll('converse-muc-occupants .occupant-nick')]
            .map((e) => e.textContent.trim());
    }, opts.room);
}

async function messagesFrom(nick) {
    return page.evaluate(({ room, nick }) => {
        const muc = document.querySelector(`converse-muc[jid="${room}"]`);
        if (!muc) return [];
        return [...muc.querySelectorAll(`.chat-msg[data-from="${room}/${nick}"] .chat-msg__text`)]
            .map((e) => e.textContent.trim());
    }, { room: opts.room, nick });
}

// The image the room's heading shows as its avatar (an href), or null.
async function roomAvatar() {
    return page.evaluate((room) => {
        const img = document.querySelector(
            `converse-muc[jid="${room}"] .chat-head converse-avatar svg image`);
        return img ? img.getAttribute('href') : null;
    }, opts.room);
}

// Polls fn() until check(value) is true; on timeout throws with the last value.
async function waitFor(what, fn, check, timeoutMs = remaining()) {
    current = what;
    const end = Date.now() + timeoutMs;
    let last;
    for (;;) {
        last = await fn();
        if (check(last)) return last;
        if (Date.now() > end) {
            throw new Error(`${what}: not within ${(timeoutMs / 1000).toFixed(0)}s ` +
                            `(last seen: ${JSON.stringify(last)})`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

async function pageState() {
    try {
        return await page.evaluate(() => ({
            stoaTest: window.stoaTest,
            rooms: [...document.querySelectorAll('converse-muc')].map((e) => e.getAttribute('jid')),
            text: document.body.innerText.slice(0, 2000),
        }));
    } catch (e) {
        return { error: String(e) };
    }
}

async function main() {
    fs.mkdirSync(path.dirname(path.resolve(opts.screenshot)), { recursive: true });
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1280, height: 800 },
        timeout: 20000,
    });
    step(`Chromium ${context.browser()?.version() ?? ''} started`);

    // Only loopback: a CDN fetch or a lookup elsewhere is a failure of the page.
    await context.route('**/*', (route) => {
        const u = new URL(route.request().url());
        if (u.protocol === 'data:' || u.protocol === 'blob:' || local.has(u.hostname)) {
            return route.continue();
        }
        refused.push(u.href);
        logLine(`REFUSED request to ${u.href}`);
        return route.abort('blockedbyclient');
    });
    page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => logLine(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => { pageErrors.push(String(e)); logLine(`PAGE ERROR: ${e.stack || e}`); });
    page.on('requestfailed', (r) => logLine(`request failed: ${r.url()}: ${r.failure()?.errorText}`));
    page.on('websocket', (ws) => {
        logLine(`websocket open: ${ws.url()}`);
        ws.on('framesent', (f) => logLine(`ws >> ${f.payload}`));
        ws.on('framereceived', (f) => logLine(`ws << ${f.payload}`));
        ws.on('close', () => logLine('websocket closed'));
    });

    current = 'load the page';
    const resp = await page.goto(pageUrl(), { waitUntil: 'load', timeout: remaining() });
    if (!resp || !resp.ok()) throw new Error(`load the page: HTTP ${resp ? resp.status() : 'no response'} for ${opts.page}`);
    step('page loaded');

    await waitFor('Converse initialises',
        () => page.evaluate(() => window.stoaTest),
        (s) => s && (s.initialized || s.error));
    const s = await page.evaluate(() => window.stoaTest);
    if (s.error) throw new Error(`Converse initialises: converse.initialize failed: ${s.error}`);
    step('Converse initialised');

    const nicks = await waitFor(`occupant list of ${opts.room} shows ${opts.nick} and ${opts.peer}`,
        occupantNicks, (n) => n && n.includes(opts.nick) && n.includes(opts.peer));
    step(`occupants: ${JSON.stringify(nicks)}`);

    if (opts['room-avatar']) {
        const want = `data:image/png;base64,${opts['room-avatar']}`;
        await waitFor(`the heading of ${opts.room} shows the room's avatar`,
            () => roomAvatar(), (href) => href === want);
        step('room avatar shown in the heading');
        current = 'screenshot of the heading';
        const shot = path.join(path.dirname(path.resolve(opts.screenshot)), 'room-avatar.png');
        await page.locator(`converse-muc[jid="${opts.room}"] .chat-head`).first()
            .screenshot({ path: shot });
        step(`screenshot: ${shot}`);
    }

    current = 'type the message';
    const textarea = page.locator(`converse-muc[jid="${opts.room}"] textarea.chat-textarea`);
    await textarea.waitFor({ state: 'visible', timeout: remaining() });
    await textarea.fill(opts.send);
    await textarea.press('Enter');
    step(`sent: ${JSON.stringify(opts.send)}`);

    await waitFor(`the room reflects our message (from ${opts.room}/${opts.nick})`,
        () => messagesFrom(opts.nick), (m) => m.includes(opts.send));
    step('own message reflected by the room');

    await waitFor(`a message from ${opts.peer} with the text ${JSON.stringify(opts.expect)}`,
        () => messagesFrom(opts.peer), (m) => m.includes(opts.expect));
    step(`received from ${opts.peer}: ${JSON.stringify(opts.expect)}`);

    current = 'check the occupant list again';
    const after = await occupantNicks();
    if (!after || !after.includes(opts.nick) || !after.includes(opts.peer)) {
        throw new Error(`occupant list changed to ${JSON.stringify(after)}`);
    }

    current = 'screenshot';
    await page.screenshot({ path: opts.screenshot, fullPage: false });
    step(`screenshot: ${opts.screenshot}`);

    if (refused.length) {
        throw new Error(`the page tried to reach other hosts: ${refused.join(' ')}`);
    }
    if (pageErrors.length) {
        throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
    }
}

let status = 0;
try {
    await main();
    step('all steps passed');
} catch (e) {
    status = 1;
    const state = page ? await pageState() : null;
    process.stderr.write(`run.mjs: FAILED: ${e.message || e}\n`);
    if (state) process.stderr.write(`run.mjs: page state: ${JSON.stringify(state, null, 1)}\n`);
    if (refused.length) process.stderr.write(`run.mjs: refused requests: ${refused.join(' ')}\n`);
    if (recent.length) process.stderr.write(`run.mjs: the page's last log lines:\n${recent.join('\n')}\n`);
    if (page) {
        const shot = opts.screenshot.replace(/(\.png)?$/, '-failure.png');
        try {
            await page.screenshot({ path: shot });
            process.stderr.write(`run.mjs: screenshot of the failure: ${shot}\n`);
        } catch { /* the page may be gone */ }
    }
} finally {
    try { await context?.close(); } catch { /* closing anyway */ }
    fs.rmSync(profile, { recursive: true, force: true });
    if (consoleLog) await new Promise((r) => consoleLog.end(r));
}
process.exit(status);
