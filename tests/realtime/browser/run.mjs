// The real-browser test of /api/realtime/client.js, run by tests/realtime/test_browser.py:
// headless Debian Chromium driven by playwright-core, pages served from the test's own origin,
// the API and the local Web PubSub service of the test run. Configuration comes as JSON in
// TRACKLY_BROWSER_TEST: {page, api, webpubsub: {endpoint, accessKey, hub}, users: {staff, alice,
// bob: {email, password, id}}, chromium, scenario}. scenario 'native' (default): page.html and the
// module's native messages; 'original': original.html, a page shaped like the original client's
// code with the documented change to it, and the original messages. Prints progress lines, then one JSON line
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
    const staff = await signIn(config.users.staff);

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

    // A status change: native messages keep their own type and say what changed.
    await api('PATCH', `/issues/${after.id}`, staff, { status: 'TRIAGED' });
    await staffPage.waitForFunction(
      (id) => window.received.some((r) => r.payload.issue_id === id && r.payload.type === 'issue_status_changed'),
      after.id,
      { timeout: HANG_GUARD_MS },
    );
    const moved = (await received(staffPage)).find((r) => r.payload.type === 'issue_status_changed').payload;
    check(
      JSON.stringify(moved.data.changes.status) === JSON.stringify(['OPEN', 'TRIAGED']),
      `the native status change should carry changes.status, got ${JSON.stringify(moved.data)}`,
    );
    check(moved.data.issue.status === 'TRIAGED', 'the native message should carry the issue after the change');

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

// --- the original client, with the documented change ----------------------------------------

// An API caller that signs in again when its (short-lived) token has expired.
function caller(user) {
  let token = null;
  return async (method, path, body) => {
    for (let attempt = 0; ; attempt++) {
      token ??= await signIn(user);
      const response = await fetch(`${config.api}${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      if (response.status === 401 && attempt === 0) {
        token = null;
        continue;
      }
      check(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
      return text ? JSON.parse(text) : null;
    }
  };
}

async function openOriginal(browser, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.refreshes = 0;
  page.on('pageerror', (error) => log(`[${name} page error]`, String(error)));
  page.on('request', (request) => {
    if (request.url().endsWith('/auth/refresh')) page.refreshes += 1;
  });
  const user = config.users[name];
  const hash = new URLSearchParams({ api: config.api, email: user.email, password: user.password });
  await page.goto(`${config.original}#${hash}`);
  try {
    await page.waitForFunction(
      () => window.failed || (window.opens >= 1 && window.messages.some((m) => m.type === 'connected')),
      null,
      { timeout: HANG_GUARD_MS },
    );
  } catch {
    throw new CheckFailed(`${name}'s original page did not connect: ${await page.locator('body').innerText()}`);
  }
  const failed = await page.evaluate(() => window.failed);
  check(!failed, `${name}'s original page failed: ${failed}`);
  log(`${name}'s original page is connected`);
  return page;
}

const changes = (page, issueId) =>
  page.evaluate((id) => window.messages.filter((m) => m.issue_id === id), issueId);

async function waitForMessage(page, name, predicate, what) {
  try {
    await page.waitForFunction(
      (source) => window.messages.some(new Function(`return (${source})`)()),
      predicate.toString(),
      { timeout: HANG_GUARD_MS },
    );
  } catch {
    const got = (await page.evaluate(() => window.messages)).map((m) => `${m.type} ${m.data?.status ?? ''}`);
    throw new CheckFailed(`${name}'s original page never got ${what}; it got: ${got.join(', ') || 'nothing'}`);
  }
  const messages = await page.evaluate(() => window.messages);
  return messages.filter(predicate).at(-1);
}

const ORIGINAL_FIELDS = [
  'created_at', 'created_by', 'created_by_name', 'description', 'file_url', 'id', 'severity',
  'status', 'title', 'updated_at', 'updated_by', 'updated_by_name',
];

function checkOriginalShape(message, what) {
  const keys = Object.keys(message).sort().join(',');
  check(keys === 'data,issue_id,timestamp,type,user_id,user_name', `${what}: message keys are ${keys}`);
  const fields = Object.keys(message.data).sort().join(',');
  check(fields === ORIGINAL_FIELDS.join(','), `${what}: data has ${fields}, not the original issue fields`);
  check(message.data.id === message.issue_id, `${what}: data is not the issue itself`);
}

async function original() {
  const browser = await chromium.launch({ executablePath: config.chromium, headless: true, args: CHROMIUM_FLAGS });
  try {
    const staffPage = await openOriginal(browser, 'staff');
    const alicePage = await openOriginal(browser, 'alice');
    const bobPage = await openOriginal(browser, 'bob');
    const asStaff = caller(config.users.staff);
    const asAlice = caller(config.users.alice);
    const aliceId = config.users.alice.id;

    // 1. Alice creates an issue: the staff page toasts it, with the issue itself as data.
    const issue = await asAlice('POST', '/issues', { title: 'Printer on fire', description: 'Smoke', severity: 'HIGH' });
    const created = await waitForMessage(staffPage, 'staff', (m) => m.type === 'issue_created', 'issue_created');
    checkOriginalShape(created, 'issue_created');
    check(created.data.created_by === aliceId && created.data.title === 'Printer on fire', 'issue_created data');
    check(created.data.description === 'Smoke', 'issue_created data should carry the description');
    await waitForMessage(alicePage, 'alice', (m) => m.type === 'issue_created', 'her own issue_created');

    // 2. Staff move its status: it arrives as issue_updated with the issue (created_by included),
    //    so Alice's dashboard toasts and reloads, and the issue list toasts "updated an issue".
    await asStaff('PUT', `/issues/${issue.id}`, { status: 'IN_PROGRESS' });
    for (const [page, name] of [[staffPage, 'staff'], [alicePage, 'alice']]) {
      const moved = await waitForMessage(
        page, name, (m) => m.type === 'issue_updated' && m.data.status === 'IN_PROGRESS', 'the status change as issue_updated',
      );
      checkOriginalShape(moved, `${name}: status change`);
      check(moved.data.created_by === aliceId, `${name}: data.created_by should be the reporter`);
      check(moved.user_id === config.users.staff.id, `${name}: user_id should be who moved it`);
    }
    await alicePage.waitForFunction(
      () => window.toasts.includes('dashboard: issue_updated Printer on fire (IN_PROGRESS)') && window.statsReloads >= 2,
      null,
      { timeout: HANG_GUARD_MS },
    );
    const staffToasts = await staffPage.evaluate(() => window.toasts);
    check(staffToasts.some((t) => t.startsWith('issues: ') && t.endsWith(' updated an issue')), 'no "updated an issue" toast on the list');
    log('status change: issue_updated with the issue itself; the reporter dashboard toasted it');

    // 3. A comment has no original message: nothing arrives for it (the next edit comes first).
    await asStaff('POST', `/issues/${issue.id}/comments`, { body: 'Looking at it.' });
    await asStaff('PUT', `/issues/${issue.id}`, { title: 'Printer on fire (2nd floor)' });
    await waitForMessage(alicePage, 'alice', (m) => m.type === 'issue_updated' && m.data.title === 'Printer on fire (2nd floor)', 'the title edit');

    // 4. Idle past the access token's lifetime: once the token the page holds is refused, the
    //    connection drops (as a renewal or a network blip would make it renegotiate). The module
    //    reads the token again, gets a 401, refreshes through onUnauthorized and reconnects; the
    //    page's own error handler (which gives up after five) is never called.
    const deadline = Date.now() + 120000; // a guard against a hang; the wait ends on the condition
    for (;;) {
      const token = await alicePage.evaluate(() => localStorage.getItem('access_token'));
      const me = await fetch(`${config.api}/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
      if (me.status === 401) break;
      check(Date.now() < deadline, "Alice's access token never expired");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    log("alice's page token has expired (the page sat idle)");
    const refreshesBefore = alicePage.refreshes;
    const cut = await control(`drop?user=${aliceId}`);
    check(cut.dropped === 1, `expected to cut 1 socket of Alice's, cut ${cut.dropped}`);
    await asStaff('PUT', `/issues/${issue.id}`, { severity: 'CRITICAL' }); // made while she is away
    try {
      await alicePage.waitForFunction(() => window.opens >= 2, null, { timeout: 60000 });
    } catch {
      throw new CheckFailed(`Alice's page did not reconnect after her token expired: ${await alicePage.locator('body').innerText()}`);
    }
    check(alicePage.refreshes > refreshesBefore, 'the module should have refreshed the expired token');
    await waitForMessage(alicePage, 'alice', (m) => m.type === 'issue_updated' && m.data.severity === 'CRITICAL', 'the edit made while away');
    await asStaff('PUT', `/issues/${issue.id}`, { status: 'DONE' });
    await waitForMessage(alicePage, 'alice', (m) => m.type === 'issue_updated' && m.data.status === 'DONE', 'a live edit after the refresh');
    const aliceState = await alicePage.evaluate(() => ({ errors: window.errorsSeen, gaveUp: window.gaveUp }));
    check(aliceState.errors === 0 && !aliceState.gaveUp, `the page's error handler ran: ${JSON.stringify(aliceState)}`);
    log(`alice's page: refreshed its token (${alicePage.refreshes - refreshesBefore}x) and kept receiving`);

    // 5. A deletion: issue_deleted, data still the issue (created_by from the event).
    await caller(config.users.admin)('DELETE', `/issues/${issue.id}`); // only an admin deletes a DONE issue
    const deleted = await waitForMessage(staffPage, 'staff', (m) => m.type === 'issue_deleted', 'issue_deleted');
    checkOriginalShape(deleted, 'issue_deleted');
    check(deleted.data.created_by === aliceId && deleted.data.description === 'Smoke', 'issue_deleted data');
    await waitForMessage(alicePage, 'alice', (m) => m.type === 'issue_deleted', 'issue_deleted');

    // Each change once, in order, and only the original types; Bob saw none of Alice's.
    const expected = ['issue_created', 'issue_updated', 'issue_updated', 'issue_updated', 'issue_updated', 'issue_deleted'];
    for (const [page, name] of [[staffPage, 'staff'], [alicePage, 'alice']]) {
      const got = (await changes(page, issue.id)).map((m) => m.type);
      check(JSON.stringify(got) === JSON.stringify(expected), `${name} got ${got.join(', ')}`);
    }
    const systemTypes = new Set(['connected', 'heartbeat', ...expected]);
    for (const page of [staffPage, alicePage, bobPage]) {
      const types = await page.evaluate(() => window.messages.map((m) => m.type));
      check(types.every((t) => systemTypes.has(t)), `a type the original never sent: ${types.join(', ')}`);
    }
    const bobGot = await bobPage.evaluate(() => window.messages.filter((m) => m.issue_id));
    check(bobGot.length === 0, `Bob's page received Alice's changes: ${bobGot.map((m) => m.type).join(', ')}`);
    log('each change once, only issue_created/updated/deleted; another reporter got none');
    console.log(JSON.stringify({ result: { original_messages: expected.length, refreshes: alicePage.refreshes - refreshesBefore } }));
  } finally {
    await browser.close();
  }
}

try {
  await (config.scenario === 'original' ? original() : main());
} catch (error) {
  console.log(`FAILED: ${error instanceof CheckFailed ? error.message : error.stack || error}`);
  process.exit(1);
}
