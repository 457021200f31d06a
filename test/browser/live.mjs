// test/browser/live.mjs URL - live updates in a real browser (issue 19): Debian's headless
// Chromium (/usr/bin/chromium, or $CHROMIUM) driven by playwright-core against the celeriac
// webapp at URL, which needs a worker consuming the celery and chat queues.
//
//   1. chat: two pages of one new room, in two browser contexts (two people). A message
//      typed in the first (Enter sends) shows in the second through its EventSource on
//      /api/events, without a reload, once.
//   2. /tasks: a task enqueued through POST /api/tasks comes in on top of the open list (above
//      the rows it had) and its state changes in place (live.js), STARTED then SUCCESS,
//      without a reload.
//
// Prints each check as it passes and, last, one line "RESULT {json}" with what it created
// (room, message and task ids) so that test/system/test_browser.py can check the database.
// Exits 1 with "FAIL: ..." (and what the pages logged) when a check fails, 2 on bad usage.
// Screenshots of each step go to $BROWSER_ARTIFACTS (lib.mjs has the rest of the settings).
// test/system/test_browser.py runs it; by hand: cd test/browser && npm ci && node live.mjs URL
import { randomBytes } from 'node:crypto';

import {
  check, expect, finish, hidden, init, launch, log, notReloaded, openLive, openPage, secs, shot,
} from './lib.mjs';

const [base] = init('usage: node test/browser/live.mjs http://HOST:PORT', 1);
await launch();

// ---------------------------------------------------------------------------- 1. chat

const room = `browser-${randomBytes(5).toString('hex')}`;
const author = 'Ann (browser)';
const body = `Hello from page A, ${randomBytes(4).toString('hex')} \u00e9\u2713`;
const roomUrl = `${base}/chat/${room}`;

const [pageA, pageB] = await check(`open ${roomUrl} in two browser contexts, streams open`,
  async () => {
    const a = await openPage('chat page A');
    const b = await openPage('chat page B');
    // B waits for its first catch-up read too (chat.js reads ?after= when its stream
    // opens), so that what shows next in B can only come by the stream.
    const caughtUp = b.waitForResponse(
      (r) => r.url().startsWith(`${base}/api/chat/${room}/messages?`));
    await Promise.all([openLive(a, roomUrl, `chat:${room}`), openLive(b, roomUrl, `chat:${room}`)]);
    await caughtUp;
    for (const p of [a, b]) {
      expect(await p.locator('#chat-messages > li').count() === 0, 'a new room shows messages');
      expect(!(await hidden(p, '#chat-empty')), 'a new room does not say it is empty');
    }
    return [a, b];
  });

// B's reads of the room after the send: with the stream working there is none.
const bReads = [];
pageB.on('request', (r) => {
  if (r.url().startsWith(`${base}/api/chat/${room}/messages`)) bReads.push(r.url());
});

const sent = await check('page A: type a name and a message, Enter sends it (202)', async () => {
  await pageA.locator('#chat-author').fill(author);
  await pageA.locator('#chat-body').fill(body);
  const posted = pageA.waitForResponse(
    (r) => r.request().method() === 'POST' && r.url() === `${base}/api/chat/${room}/messages`);
  const at = Date.now();
  await pageA.locator('#chat-body').press('Enter');
  const r = await posted;
  const data = await r.json();
  expect(r.status() === 202, `POST answered ${r.status()}: ${JSON.stringify(data)}`);
  expect(typeof data.id === 'string' && typeof data.task_id === 'string',
         `no id or task_id in ${JSON.stringify(data)}`);
  return { at, ...data };
});

const msgSel = `li.msg[id="m-${sent.id}"]`;
await check('page B shows the message live: author and body, once, last, "empty" hidden',
  async () => {
    const li = pageB.locator(msgSel);
    await li.waitFor({ state: 'visible' });
    log(`  page B shows it ${secs(sent.at)} after Enter in page A`);
    const who = await li.locator('.author').textContent();
    const what = await li.locator('.body').textContent();
    expect(who === author, `author shown as ${JSON.stringify(who)}`);
    expect(what === body, `body shown as ${JSON.stringify(what)}`);
    expect(await pageB.locator('#chat-messages > li').count() === 1, 'more than one message shown');
    expect(await pageB.locator('#chat-messages > li').last().getAttribute('id') === `m-${sent.id}`,
           'not the last message');
    expect(await hidden(pageB, '#chat-empty'), '"No messages yet" still shown');
    await shot(pageB, 'chat-page-b-shows-the-message');
  }, 'a message shows once a worker consuming the chat queue stored it and /api/events sent it');

await check("page B got it as a 'chat' event of its EventSource, with no read of the room",
  async () => {
    const ev = pageB.sse.find((e) => e.eventName === 'chat' && e.data.includes(sent.id));
    expect(ev, `no chat event for ${sent.id} among the ${pageB.sse.length} stream events ` +
               `page B received: ${JSON.stringify(pageB.sse.slice(-5))}`);
    const data = JSON.parse(ev.data);
    expect(data.room === room && data.body === body && data.author === author &&
           typeof data.seq === 'number', `event data ${ev.data}`);
    expect(bReads.length === 0, `page B read the room instead: ${bReads.join(', ')}`);
  });

await check('page A shows it too, its box emptied, no error', async () => {
  await pageA.locator(msgSel).waitFor({ state: 'visible' });
  expect(await pageA.locator(`${msgSel} .body`).textContent() === body, 'another body in page A');
  expect(await pageA.locator('#chat-body').inputValue() === '', 'the message box was not emptied');
  expect(await hidden(pageA, '#chat-status'),
         `status: ${await pageA.locator('#chat-status').textContent()}`);
  await shot(pageA, 'chat-page-a-after-sending');
});

await check('neither chat page reloaded or threw', async () => {
  await notReloaded(pageA, 'chat page A');
  await notReloaded(pageB, 'chat page B');
});

// ---------------------------------------------------------------------------- 2. /tasks

const SLEEP_S = 1;
let listedBefore = [];
const tasksPage = await check(`open ${base}/tasks, its stream open`, async () => {
  const p = await openPage('tasks page');
  await openLive(p, `${base}/tasks`, 'tasks');
  listedBefore = await p.locator('table[data-live-tasks] tr[data-task]')
    .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task')));
  // Every state each row shows, in order, whatever the polling below catches.
  await p.evaluate(() => {
    const seen = (window.celeriacStates = {});
    const table = document.querySelector('table[data-live-tasks]');
    const record = () => {
      table.querySelectorAll('tr[data-task]').forEach((tr) => {
        const s = tr.querySelector('.state-cell .state');
        const list = (seen[tr.getAttribute('data-task')] ||= []);
        if (s && list[list.length - 1] !== s.textContent) list.push(s.textContent);
      });
    };
    new MutationObserver(record)
      .observe(table, { childList: true, subtree: true, characterData: true });
  });
  return p;
});

const taskId = await check(`enqueue demo.sleep(${SLEEP_S}) through POST /api/tasks (202)`,
  async () => {
    const r = await tasksPage.context().request.post(`${base}/api/tasks`,
      { data: { name: 'demo.sleep', args: [SLEEP_S] } });
    const data = await r.json();
    expect(r.status() === 202 && typeof data.id === 'string',
           `answered ${r.status()}: ${JSON.stringify(data)}`);
    return data.id;
  });

const row = tasksPage.locator(`table[data-live-tasks] tr[data-task="${taskId}"]`);
await check('the task comes in above the tasks listed before, as demo.sleep', async () => {
  await row.waitFor({ state: 'visible' });
  // Above every row the page came with (a worker may bring in others meanwhile).
  const ids = await tasksPage.locator('table[data-live-tasks] tr[data-task]')
    .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task')));
  const below = ids.slice(ids.indexOf(taskId) + 1);
  expect(listedBefore.every((id) => below.includes(id)),
         `not above the tasks listed before: ${ids.join(', ')}`);
  const name = await row.locator('td').nth(1).textContent();
  expect(name === 'demo.sleep', `name shown as ${JSON.stringify(name)}`);
});

await check('its state changes in place to SUCCESS, through STARTED', async () => {
  await row.locator('.state-cell .state', { hasText: 'SUCCESS' }).waitFor({ state: 'visible' });
  const states = await tasksPage.evaluate((id) => window.celeriacStates[id] || [], taskId);
  log(`  states shown: ${states.join(' -> ')}`);
  expect(states.includes('STARTED') && states.indexOf('STARTED') < states.indexOf('SUCCESS'),
         `never showed STARTED before SUCCESS: ${states.join(' -> ')}`);
  expect(await row.locator('.state-cell .state').textContent() === 'SUCCESS', 'not SUCCESS');
  expect(await row.locator('.state-success').count() === 1, 'SUCCESS not styled as such');
  await shot(tasksPage, 'tasks-list-task-succeeded');
}, 'demo.sleep runs in a worker consuming the celery queue');

await check('the tasks page did not reload or throw', () => notReloaded(tasksPage, 'tasks page'));

await finish({
  room, author, body, message_id: sent.id, chat_task_id: sent.task_id, task_id: taskId,
});
