// The real-browser test of /api/realtime/client.js, run by tests/realtime/test_browser.py:
// headless Debian Chromium driven by playwright-core, pages served from the test's own origin,
// the API and the local Web PubSub service of the test run. Configuration comes as JSON in
// TRACKLY_BROWSER_TEST: {page, api, webpubsub: {endpoint, accessKey, hub}, users: {staff, alice,
// bob: {email, password, id}}, chromium}. Prints progress lines, then one JSON line
// {"result": {...figures}} and exits 0; on a failed check prints "FAILED: <why>" and exits 1.
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

const config = JSON.parse(process.env.TRACKLY_BROWSER_TEST);
const HANG_GUARD_MS = 15000; // stops a broken run from hanging; never a speed requirement
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const log = (...parts) => console.log('-', ...parts);

class CheckFailed extends Error {}
function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

async function api(method, path, token, body) {
  const response = await fetch(`${config.api}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  check(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function signIn(user) {
  return (await api('POST', '/auth/login', null, { email: user.email, password: user.password })).tokens.access_token;
}

// A REST call to the local Web PubSub service signed like the service SDK signs them.
async function sendToGroup(group, message) {
  const { endpoint, accessKey, hub } = config.webpubsub;
  const url = `${endpoint}/api/hubs/${hub}/groups/${group}/:send?api-version=2024-12-01`;
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ aud: url, iat: now, exp: now + 60 })}`;
  const signature = createHmac('sha256', accessKey).update(unsigned).digest('base64url');
  const response = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${unsigned}.${signature}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(message),
  });
  check(response.status === 202, `the local Web PubSub service refused a send: ${response.status}`);
}

async function control(path) {
  const response = await fetch(`${config.webpubsub.endpoint}/_local/${path}`, { method: 'POST' });
  check(response.ok, `local service control ${path} answered ${response.status}`);
  return response.json();
}

async function openPage(browser, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => log(`[${name} page error]`, String(error)));
  const user = config.users[name];
  const hash = new URLSearchParams({ api: config.api, email: user.email, password: user.password, backoff: '200' });
  await page.goto(`${config.page}#${hash}`);
  try {
    // Connected and caught up: from here on, new events can only arrive live.
    await page.waitForFunction(() => window.syncs >= 1 || window.errors.length > 0, null, { timeout: HANG_GUARD_MS });
  } catch {
    throw new CheckFailed(`${name}'s page did not connect: ${await page.locator('body').innerText()}`);
  }
  const errors = await page.evaluate(() => window.errors);
  check(errors.length === 0, `${name}'s page failed to connect: ${errors.join('; ')}`);
  log(`${name}'s page is connected`);
  return page;
}

const received = (page) => page.evaluate(() => window.received);

async function waitForIssue(page, name, issueId, what) {
  try {
    await page.waitForSelector(`li[data-issue-id="${issueId}"]`, { timeout: HANG_GUARD_MS });
  } catch {
    const got = (await received(page)).map((r) => `${r.payload.type} ${r.payload.issue_id} (${r.via})`);
    throw new CheckFailed(`${name}'s page never showed ${what}; it received: ${got.join(', ') || 'nothing'}`);
  }
  return (await received(page)).find((r) => r.payload.issue_id === issueId);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  try {
    const staffPage = await openPage(browser, 'staff');
    const alicePage = await openPage(browser, 'alice');
    const bob = await signIn(config.users.bob);
    const alice = await signIn(config.users.alice);

    // 1. Issues Bob creates through the API appear on the staff page, pushed over the socket.
    const latencies = [];
    const bobIssues = [];
    for (let n = 1; n <= 5; n++) {
      const sent = Date.now();
      const issue = await api('POST', '/issues', bob, { title: `Bob's issue ${n}`, severity: 'HIGH' });
      const shown = await waitForIssue(staffPage, 'staff', issue.id, `Bob's issue ${n}`);
      check(shown.via === 'live', `Bob's issue ${n} came from the catch-up feed, not live (the socket missed it)`);
      check(shown.payload.type === 'issue_created', `expected issue_created, got ${shown.payload.type}`);
      check(shown.payload.user_id === config.users.bob.id, 'user_id is not the creator');
      latencies.push(shown.at - sent);
      bobIssues.push(issue.id);
    }
    log(`staff page: Bob's 5 issues arrived live; POST-to-page ms: ${latencies.map((v) => v.toFixed(1)).join(', ')}`);

    // 2. Alice's own issue reaches her page; none of Bob's ever did (the socket delivers in order,
    //    and Bob's were all sent before hers).
    const aliceIssue = await api('POST', '/issues', alice, { title: "Alice's issue", severity: 'LOW' });
    await waitForIssue(alicePage, 'alice', aliceIssue.id, "Alice's own issue");
    await waitForIssue(staffPage, 'staff', aliceIssue.id, "Alice's issue");
    const aliceGot = (await received(alicePage)).map((r) => r.payload.issue_id);
    check(
      JSON.stringify(aliceGot) === JSON.stringify([aliceIssue.id]),
      `Alice's page received other reporters' events: ${aliceGot.join(', ')}`,
    );
    log("alice's page: only her own issue");

    // 3. Cut the staff socket (no close frame) and refuse reconnections; changes made meanwhile
    //    are caught up exactly once after the service accepts connections again.
    await control('refuse-clients?status=503');
    const cut = await control(`drop?user=${config.users.staff.id}`);
    check(cut.dropped === 1, `expected to cut 1 staff socket, cut ${cut.dropped}`);
    await staffPage.waitForFunction(() => window.live.readyState !== 1, null, { timeout: HANG_GUARD_MS });
    const missed = [];
    for (let n = 1; n <= 3; n++) {
      missed.push((await api('POST', '/issues', bob, { title: `Missed issue ${n}`, severity: 'MEDIUM' })).id);
    }
    await api('PATCH', `/issues/${missed[0]}`, bob, { title: 'Missed issue 1 (edited)' });
    check((await received(staffPage)).every((r) => !missed.includes(r.payload.issue_id)), 'a missed event arrived while cut');
    await control('accept-clients');
    await staffPage.waitForFunction(() => window.syncs >= 2, null, { timeout: HANG_GUARD_MS });
    for (const id of missed) await waitForIssue(staffPage, 'staff', id, 'an issue created while cut');
    await staffPage.waitForFunction(
      (id) => window.received.some((r) => r.payload.issue_id === id && r.payload.type === 'issue_updated'),
      missed[0],
      { timeout: HANG_GUARD_MS },
    );

    // At-least-once delivery may repeat an event on the socket: the page applies it once.
    const repeated = (await received(staffPage)).find((r) => r.payload.issue_id === missed[1]).payload;
    await sendToGroup('staff', repeated);
    const after = await api('POST', '/issues', bob, { title: 'After the cut', severity: 'LOW' });
    const afterShown = await waitForIssue(staffPage, 'staff', after.id, 'the issue created after reconnecting');
    check(afterShown.via === 'live', 'after reconnecting, new events should arrive live');

    const staffGot = await received(staffPage);
    const counts = new Map();
    for (const r of staffGot) counts.set(r.payload.id, (counts.get(r.payload.id) ?? 0) + 1);
    const twice = [...counts].filter(([, count]) => count > 1).map(([id]) => id);
    check(twice.length === 0, `events applied more than once: ${twice.join(', ')}`);
    const caughtUp = staffGot.filter((r) => missed.includes(r.payload.issue_id));
    check(caughtUp.length === 4, `expected 3 creations + 1 update caught up, got ${caughtUp.length}`);
    check(caughtUp.every((r) => r.via === 'catch-up'), 'events made while cut should come from the catch-up feed');
    const ids = staffGot.map((r) => r.payload.id);
    const opens = await staffPage.evaluate(() => window.opens);
    check(opens === 2, `the staff page should have connected twice, not ${opens} times`);
    const syncs = await staffPage.evaluate(() => window.syncs);
    check(syncs === 2, `the staff page should have caught up twice, not ${syncs} times`);
    const aliceFinal = (await received(alicePage)).map((r) => r.payload.issue_id);
    check(
      aliceFinal.length === 1 && aliceFinal[0] === aliceIssue.id,
      `Alice's page received others' events: ${aliceFinal.join(', ')}`,
    );
    log(`staff page: ${missed.length} issues + 1 update caught up once each after the cut; duplicate ignored`);

    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        result: {
          post_to_page_ms: latencies.map((v) => Math.round(v * 10) / 10),
          median_ms: Math.round(sorted[Math.floor(sorted.length / 2)] * 10) / 10,
          max_ms: Math.round(sorted[sorted.length - 1] * 10) / 10,
          staff_event_ids: ids,
        },
      }),
    );
  } finally {
    await browser.close();
  }
}

try {
  await main();
} catch (error) {
  console.log(`FAILED: ${error instanceof CheckFailed ? error.message : error.stack || error}`);
  process.exit(1);
}
