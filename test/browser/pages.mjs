// test/browser/pages.mjs URL SITE WORKER - what a user does through the pages (issue 20):
// Debian's headless Chromium (/usr/bin/chromium, or $CHROMIUM) driven by playwright-core
// against the celeriac webapp at URL. Needs one worker named WORKER consuming the celery,
// chat, scrape, convert and browser-hold queues, allowed to scrape SITE
// (test/system/site_server.py on 127.0.0.1: SCRAPER_ALLOW_PRIVATE=1).
//
//   1. /workers shows WORKER, online, with its queues.
//   2. A scrape of SITE/news/ from the form on /: its task page follows it to SUCCESS and
//      lists its articles; /articles lists them; an article's page shows its title and text.
//   3. An article made of XSS attempts (SITE/hostile.html, scraped through the API) shows on
//      its page and in /articles as text: nothing runs, with the CSP bypassed too.
//   4. /convert: a CSV uploaded with the form becomes JSON; the output, downloaded from the
//      task page, holds the CSV's rows; /convert lists it.
//   5. Every child of the worker held by a demo.sleep (queue browser-hold), so that what
//      comes next waits:
//      a. a demo.fail whose message is hostile markup, enqueued through the API, comes in on
//         /tasks live and shows on its task page, as text;
//      b. demo.add submitted from the form on / (chosen by name, its typed fields x and y
//         found by their labels) leads to its task page, PENDING and live;
//      then the sleeps are revoked and, without a reload, the demo.add page shows SUCCESS,
//      its result and its log line, and the demo.fail pages FAILURE with the hostile error as
//      text (live.js), also once loaded again.
//   6. At 360 px wide no page is wider than the screen; the first Tab reaches the skip link.
// A dialog in any page fails the run (lib.mjs). The XSS pages are opened with the CSP bypassed
// (playwright's bypassCSP), so that escaping alone keeps their content inert: a script that
// ran would open a dialog or set window.celeriacPwned. With the CSP in force they must cause
// no CSP violation either (one would mean markup got into the page).
//
// Prints each check as it passes and, last, one line "RESULT {json}" with the ids of what it
// created, for test/system/test_browser.py to check the database. Exits 1 with "FAIL: ..."
// when a check fails, 2 on bad usage. Screenshots of each step go to $BROWSER_ARTIFACTS.
// By hand: cd test/browser && npm ci && node pages.mjs URL SITE WORKER
import { randomBytes, randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import {
  check, expect, finish, getJson, init, launch, log, notReloaded, open, openLive, openPage,
  postJson, shot, until, whenLive,
} from './lib.mjs';

const [base, site, workerName] = init(
  'usage: node test/browser/pages.mjs http://HOST:PORT http://SITE_HOST:PORT WORKER_NAME', 3, 2);
await launch();

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const taskUrl = new RegExp(`/tasks/(${UUID})$`);
const idOf = (page) => page.url().match(taskUrl)[1];
const FINAL = ['SUCCESS', 'FAILURE', 'REVOKED'];

// A task's row through the API, once its state is one of states.
async function taskIn(page, id, states) {
  return until(async () => {
    const t = await getJson(page, `/api/tasks/${id}`);
    return states.includes(t.state) && t;
  }, `task ${id} to be ${states.join(' or ')}`);
}

// Waits until a task page that reloads itself when its task ends (scrape, convert) shows the
// task final and no longer follows it; returns the state shown.
async function finalTaskPage(page) {
  await page.locator('[data-live-task]').waitFor({ state: 'detached' });
  return page.locator('dd[data-field="state"]').textContent();
}

// The form on page that has the button named button (a page may hold several forms).
const formWith = (page, button) =>
  page.locator('form').filter({ has: page.getByRole('button', { name: button, exact: true }) });

// Nothing in page ran or injected a script: no flag set by a hostile script, no element or
// attribute that markup in the content would bring, no CSP violation.
async function inert(page, name) {
  const found = await page.evaluate(() => {
    const attributes = (which) => [...document.querySelectorAll('*')]
      .flatMap((e) => [...e.attributes].filter(which))
      .map((a) => `<${a.ownerElement.tagName.toLowerCase()} ${a.name}="${a.value}">`);
    return {
      pwned: window.celeriacPwned,
      // Our pages have no inline script or handler (their CSP forbids them), images or frames.
      elements: [...document.querySelectorAll('script:not([src]), img, iframe, object, embed')]
        .map((e) => e.outerHTML.slice(0, 80)),
      handlers: attributes((a) => /^on/i.test(a.name)),
      jsLinks: attributes((a) => /^(href|xlink:href|src|action|formaction)$/i.test(a.name) &&
                                 /^\s*javascript:/i.test(a.value)),
    };
  });
  expect(found.pwned === undefined, `${name}: a hostile script ran (window.celeriacPwned = ` +
                                     `${JSON.stringify(found.pwned)})`);
  expect(found.elements.length === 0, `${name} holds injected elements: ${found.elements}`);
  expect(found.handlers.length === 0, `${name} holds event handlers: ${found.handlers}`);
  expect(found.jsLinks.length === 0, `${name} holds javascript: URLs: ${found.jsLinks}`);
  expect(page.cspViolations.length === 0,
         `${name} violated its CSP (markup got in): ${page.cspViolations.join('; ')}`);
}

// ------------------------------------------------------------------------ 1. /workers

const workersPage = await openPage('workers page');
await check(`/workers shows the worker ${workerName}: online, its queues`, async () => {
  await open(workersPage, `${base}/workers`);
  const row = workersPage.getByRole('row').filter({ hasText: workerName });
  expect(await row.count() === 1, `${await row.count()} rows name the worker`);
  await row.getByRole('cell', { name: 'online', exact: true }).waitFor();
  const text = await row.textContent();
  for (const queue of ['celery', 'chat', 'scrape', 'convert'])
    expect(text.includes(queue), `its queue ${queue} is not shown: ${text}`);
  await shot(workersPage, 'workers');
}, 'the page lists the worker masters, as GET /api/workers does');
await workersPage.context().close();

// ------------------------------------------------------------------------ 2. a scrape

// The hostile article, meanwhile: through the API, its pages are checked in 3.
const hostileUrl = `${site}/hostile.html`;
const scrapePage = await openPage('scrape page');
const hostileTask = await check(`enqueue scrape.site of ${hostileUrl} through the API (202)`,
  async () => (await postJson(scrapePage, '/api/tasks', {
    name: 'scrape.site', kwargs: { url: hostileUrl, max_pages: 1, follow: false },
  }, 202)).id);

const newsUrl = `${site}/news/`;
const scrapeTask = await check(`/: the scrape form (by its labels) starts a scrape of ${newsUrl}`,
  async () => {
    await open(scrapePage, `${base}/`);
    const form = formWith(scrapePage, 'Scrape');
    await form.getByLabel('URL').fill(newsUrl);
    await form.getByLabel('Max pages').fill('10');
    await form.getByLabel('Follow links').check();
    await shot(scrapePage, 'scrape-form-filled');
    await Promise.all([scrapePage.waitForURL(taskUrl),
                       form.getByRole('button', { name: 'Scrape', exact: true }).click()]);
    return idOf(scrapePage);
  });

const articles = await check('its task page follows it to SUCCESS and lists its articles',
  async () => {
    const state = await finalTaskPage(scrapePage);
    expect(state === 'SUCCESS', `the task ended ${state}: ` +
           await scrapePage.locator('dd[data-field="error"]').textContent());
    const listed = (await getJson(scrapePage, `/api/articles?task=${scrapeTask}`)).articles;
    expect(listed.length > 0, 'the scrape stored no article');
    for (const a of listed) {
      const link = scrapePage.locator(`a[href="/articles/${a.id}"]`);
      expect(await link.textContent() === a.title, `article ${a.id} shown as ` +
             `${JSON.stringify(await link.textContent())}, not ${JSON.stringify(a.title)}`);
    }
    await shot(scrapePage, 'scrape-task-succeeded');
    return listed;
  }, 'scrape.site runs in a worker consuming the scrape queue, allowed to fetch 127.0.0.1');

// The scrape's own list: other tests of the same database store articles too, newer ones.
await check('/articles?task= (the scrape\'s articles) lists them, by title', async () => {
  await open(scrapePage, `${base}/articles?task=${scrapeTask}`);
  for (const a of articles) {
    const link = scrapePage.locator(`article h2 a[href="/articles/${a.id}"]`);
    expect(await link.textContent() === a.title, `article ${a.id} not listed by its title`);
  }
  await shot(scrapePage, 'articles-list');
});

const opened = articles[0];
await check(`its link opens the article's page: title, author and text (${opened.url})`,
  async () => {
    await Promise.all([
      scrapePage.waitForURL(`${base}/articles/${opened.id}`),
      scrapePage.getByRole('link', { name: opened.title, exact: true }).first().click(),
    ]);
    const full = await getJson(scrapePage, `/api/articles/${opened.id}`);
    const h1 = await scrapePage.getByRole('heading', { level: 1 }).textContent();
    expect(h1 === full.title, `title shown as ${JSON.stringify(h1)}, not ${full.title}`);
    if (full.author) await scrapePage.getByText(full.author, { exact: true }).first().waitFor();
    const shown = await textParagraphs(scrapePage);
    expect(shown.join('\n\n') === paragraphs(full.body).join('\n\n'),
           `text shown:\n${shown.join('\n\n')}\nnot:\n${full.body}`);
    await shot(scrapePage, 'article');
  });
await scrapePage.context().close();

// The paragraphs of an article's text as the page shows them (under its "Text" heading),
// and as they are stored (separated by blank lines).
function textParagraphs(page) {
  return page.locator('h2:text-is("Text") + .article-body > p')
    .evaluateAll((ps) => ps.map((p) => p.textContent.trim()));
}
function paragraphs(text) {
  return (text || '').split(/\n[ \t\r]*\n/).map((p) => p.trim()).filter((p) => p);
}

// ------------------------------------------------------------------------ 3. a hostile article

const xssArticle = await check('the hostile article, scraped: its page shows it as text, ' +
                               'nothing runs (CSP bypassed)', async () => {
  const page = await openPage('hostile article page (no CSP)', { bypassCSP: true });
  const t = await taskIn(page, hostileTask, FINAL);
  expect(t.state === 'SUCCESS', `the scrape ended ${t.state}: ${t.error}`);
  const [a] = (await getJson(page, `/api/articles?task=${hostileTask}`)).articles;
  expect(a, 'the scrape of the hostile page stored no article');
  const full = await getJson(page, `/api/articles/${a.id}`);
  expect(full.title.includes('<script>') && full.body.includes('<img src=x onerror='),
         `the stored article lost its markup-as-text: ${JSON.stringify(full)}`);
  await open(page, `${base}/articles/${a.id}`);
  const h1 = await page.getByRole('heading', { level: 1 }).textContent();
  expect(h1 === full.title, `title shown as ${JSON.stringify(h1)}, not ${full.title}`);
  expect(await page.title() === `${full.title} - celeriac`,
         `the document's title is ${JSON.stringify(await page.title())}`);
  await page.getByText(full.author, { exact: true }).first().waitFor();
  await page.getByText(full.summary, { exact: true }).first().waitFor();
  const shown = await textParagraphs(page);
  expect(shown.join('\n\n') === paragraphs(full.body).join('\n\n'),
         `text shown:\n${shown.join('\n\n')}\nnot:\n${full.body}`);
  await inert(page, 'the hostile article page');
  await shot(page, 'hostile-article');

  await open(page, `${base}/articles?task=${hostileTask}`);
  const item = page.locator('article').filter({ has: page.locator(`a[href="/articles/${a.id}"]`) });
  expect(await item.locator('h2').textContent() === full.title, 'listed under another title');
  expect((await item.textContent()).includes(full.summary), 'its summary is not listed as text');
  await inert(page, 'the list of the hostile article');
  await shot(page, 'hostile-article-listed');
  await page.context().close();
  return a;
}, 'test/system/site_server.py serves /hostile.html; the pages escape every value');

await check('the hostile article page with its CSP: no violation', async () => {
  const page = await openPage('hostile article page');
  await open(page, `${base}/articles/${xssArticle.id}`);
  await inert(page, 'the hostile article page (CSP on)');
  await page.context().close();
});

// ------------------------------------------------------------------------ 4. /convert

// What the CSV says, as the JSON must say it: every value a string, keys from the header.
const rows = [
  { name: 'Smith, Ann', city: 'Z\u00fcrich', note: 'said "hi"' },
  { name: 'Bob', city: '', note: 'two\nlines' },
];
const csvField = (v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const csv = [Object.keys(rows[0]), ...rows.map(Object.values)]
  .map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
const csvName = `browser-${randomBytes(4).toString('hex')}.csv`;
const jsonName = csvName.replace(/\.csv$/, '.json');

const convertPage = await openPage('convert page');
const convertTask = await check(`/convert: upload ${csvName} with the form, to JSON`, async () => {
  await open(convertPage, `${base}/convert`);
  const form = formWith(convertPage, 'Upload and convert');
  await form.getByLabel('File').setInputFiles(
    { name: csvName, mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await form.getByLabel('Convert to').selectOption('json');
  await shot(convertPage, 'convert-form-filled');
  await Promise.all([
    convertPage.waitForURL(taskUrl),
    form.getByRole('button', { name: 'Upload and convert', exact: true }).click(),
  ]);
  return idOf(convertPage);
});

const outputFile = await check('its task page follows it to SUCCESS; the output downloads ' +
                              'and holds the CSV\'s rows', async () => {
  const state = await finalTaskPage(convertPage);
  expect(state === 'SUCCESS', `the task ended ${state}: ` +
         await convertPage.locator('dd[data-field="error"]').textContent());
  await shot(convertPage, 'convert-task-succeeded');
  const [download] = await Promise.all([
    convertPage.waitForEvent('download'),
    convertPage.getByRole('link', { name: jsonName, exact: true }).click(),
  ]);
  expect(download.suggestedFilename() === jsonName,
         `downloaded as ${download.suggestedFilename()}`);
  const text = await readFile(await download.path(), 'utf8');
  let got;
  try {
    got = JSON.parse(text);
  } catch (err) {
    throw new Error(`the output is not JSON (${err.message}): ${text.slice(0, 200)}`);
  }
  expect(JSON.stringify(got) === JSON.stringify(rows),
         `the output says ${JSON.stringify(got)}, the CSV ${JSON.stringify(rows)}`);
  return (await getJson(convertPage, `/api/tasks/${convertTask}`)).result.output_file_id;
}, 'convert.file runs in a worker consuming the convert queue');

await check('/convert lists the conversion with its output', async () => {
  await open(convertPage, `${base}/convert`);
  const row = convertPage.locator(`tr[data-task="${convertTask}"]`);
  expect(await row.locator('.output-cell a').first().textContent() === jsonName,
         `its output cell says ${await row.locator('.output-cell').textContent()}`);
  expect(await row.locator('.state-cell .state').textContent() === 'SUCCESS', 'not SUCCESS');
  await shot(convertPage, 'convert-list');
});
await convertPage.context().close();

// ------------------------------------------------------------------------ 5. held tasks

// Every child runs a demo.sleep, so that the tasks below wait in their queue until the sleeps
// are revoked: their pages open before they run, and must follow them live. The sleeps go to
// a queue of their own: should this run fail before revoking them, they go back to it, where
// no other test's worker takes them.
const HOLD_QUEUE = 'browser-hold';
const api = await openPage('api');
const held = await check('hold every child of the worker with a demo.sleep (STARTED)', async () => {
  const { workers } = await getJson(api, '/api/workers');
  const me = workers.find((w) => w.hostname === workerName && w.online);
  expect(me, `no online worker ${workerName} in ${JSON.stringify(workers)}`);
  const ids = [];
  for (let i = 0; i < me.concurrency; i++)
    ids.push((await postJson(api, '/api/tasks',
                             { name: 'demo.sleep', args: [120], queue: HOLD_QUEUE }, 202)).id);
  for (const id of ids) await taskIn(api, id, ['STARTED']);
  return ids;
}, 'a long task runs alone: its child takes nothing more until it ends');

// 5a. The hostile demo.fail, on /tasks and its page (CSP bypassed).
const payload = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';
const xssList = await check('open /tasks (CSP bypassed), its stream open', async () => {
  const p = await openPage('tasks page (no CSP)', { bypassCSP: true });
  await openLive(p, `${base}/tasks`, 'tasks');
  return p;
});
const xssTask = await check('enqueue demo.fail with hostile markup as its message (202)',
  async () => (await postJson(api, '/api/tasks', { name: 'demo.fail', args: [payload] }, 202)).id);
const xssRow = xssList.locator(`tr[data-task="${xssTask}"]`);
await check('it comes in on /tasks, PENDING, nothing injected', async () => {
  await xssRow.waitFor({ state: 'visible' });
  expect(await xssRow.locator('td').nth(1).textContent() === 'demo.fail', 'not as demo.fail');
  const state = await xssRow.locator('.state-cell .state').textContent();
  expect(state === 'PENDING', `shown ${state}, while the worker is held`);
  await inert(xssList, '/tasks');
});
const xssPage = await check('its task page (CSP bypassed): live, the args as text', async () => {
  const p = await openPage('hostile task page (no CSP)', { bypassCSP: true });
  await openLive(p, `${base}/tasks/${xssTask}`, `task:${xssTask}`);
  const args = await p.locator('dd[data-field="args"]').textContent();
  expect(JSON.parse(args)[0] === payload, `args shown as ${args}`);
  await inert(p, 'the hostile task page');
  await shot(p, 'hostile-task-pending');
  return p;
});

// 5b. demo.add from the form on /: chosen by name, its typed fields (x and y) filled in.
const [x, y] = [randomInt(1, 1000), randomInt(1, 1000)];
const formPage = await openPage('form page');
const addTask = await check(`/: the form's typed fields (by their labels) enqueue ` +
                            `demo.add(${x}, ${y}); its task page opens live, not yet run`,
  async () => {
    await open(formPage, `${base}/`);
    const chooser = formWith(formPage, 'Show its fields');
    await chooser.getByLabel('Task', { exact: true }).selectOption('demo.add');
    await Promise.all([
      formPage.waitForURL(/[?&]task=demo\.add(&|$)/),
      chooser.getByRole('button', { name: 'Show its fields', exact: true }).click(),
    ]);
    const form = formWith(formPage, 'Enqueue');
    // Labelled "x (number, required)": the name, then a hint.
    await form.getByLabel(/^x\b/).fill(String(x));
    await form.getByLabel(/^y\b/).fill(String(y));
    await shot(formPage, 'task-form-filled');
    await whenLive(formPage, 'task:', () => Promise.all([
      formPage.waitForURL(taskUrl),
      form.getByRole('button', { name: 'Enqueue', exact: true }).click(),
    ]));
    const id = idOf(formPage);
    const state = await formPage.locator('dd[data-field="state"]').textContent();
    expect(!FINAL.includes(state), `already ${state}: not live`);
    expect(await formPage.locator(`[data-live-task="${id}"]`).count() === 1,
           'the page is not live');
    await shot(formPage, 'task-page-pending');
    return id;
  }, 'GET /?task=demo.add shows the typed fields of what the worker registered');

await check('revoke the demo.sleeps holding the worker', async () => {
  for (const id of held) {
    const r = await postJson(api, `/api/tasks/${id}/revoke`, {}, 200);
    expect(r.state === 'REVOKED', `revoking ${id}: ${JSON.stringify(r)}`);
  }
});

await check('the demo.add page shows SUCCESS, its result and its log line, without a reload',
  async () => {
    await formPage.locator('dd[data-field="state"] .state-success').waitFor();
    await formPage.locator('dd[data-field="result"]', { hasText: String(x + y) }).waitFor();
    const logLine = formPage.locator('#task-log pre', { hasText: `adding ${x} + ${y}` });
    await logLine.waitFor({ state: 'visible' });
    expect(formPage.sse.some((e) => e.eventName === 'task' && e.data.includes(addTask) &&
                                    e.data.includes('SUCCESS')),
           'SUCCESS did not come by the stream');
    await notReloaded(formPage, 'the demo.add page');
    await shot(formPage, 'task-page-succeeded');
  }, 'demo.add runs in a worker consuming the celery queue; live.js follows its page');

await check('the hostile task ends FAILURE on /tasks and its page, live, the error as text',
  async () => {
    await xssRow.locator('.state-failure').waitFor();
    await inert(xssList, '/tasks');
    await notReloaded(xssList, '/tasks');
    await shot(xssList, 'hostile-task-listed-live');
    await xssPage.locator('dd[data-field="state"] .state-failure').waitFor();
    // live.js fills the other fields from /api/tasks/{id} once final.
    await xssPage.locator('dd[data-field="error"] pre', { hasText: payload }).waitFor();
    const result = await xssPage.locator('dd[data-field="result"]').textContent();
    expect(result.includes(JSON.stringify(payload).slice(1, -1)), `result shown as ${result}`);
    await inert(xssPage, 'the hostile task page');
    await notReloaded(xssPage, 'the hostile task page');
    await shot(xssPage, 'hostile-task-failed-live');
  });

await check('loaded again, /tasks and the task page show the hostile error as text', async () => {
  await open(xssList, `${base}/tasks`);
  const cell = await xssRow.locator('td.short').textContent();
  expect(cell.includes('<script>alert(1)</script>'), `its error shown as ${cell}`);
  await inert(xssList, '/tasks (loaded again)');
  await shot(xssList, 'hostile-task-listed');
  await open(xssPage, `${base}/tasks/${xssTask}`);
  const error = await xssPage.locator('dd[data-field="error"]').textContent();
  expect(error.includes(payload), `error shown as ${error}`);
  await inert(xssPage, 'the hostile task page (loaded again)');
  await shot(xssPage, 'hostile-task-failed');
  const csp = await openPage('hostile task page');
  await open(csp, `${base}/tasks/${xssTask}`);
  await inert(csp, 'the hostile task page (CSP on)');
});

// 6. A phone-width screen and the keyboard: no page is wider than the screen (a wide table
//    scrolls on its own), and the first Tab reaches the "skip to the content" link.
const phone = await openPage('phone', { viewport: { width: 360, height: 740 } });
for (const path of ['/', '/tasks', `/tasks/${addTask}`, '/workers', '/queues', '/articles',
  '/convert', '/chat']) {
  await check(`${path} fits a 360 px wide screen`, async () => {
    await open(phone, base + path);
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    expect(width <= 360, `the page is ${width} px wide`);
  });
}
await shot(phone, 'phone-chat');
await check('the first Tab goes to "Skip to the content", which leads to the content', async () => {
  await open(phone, `${base}/tasks`);
  await phone.keyboard.press('Tab');
  const focused = await phone.evaluate(() => document.activeElement.textContent);
  expect(focused === 'Skip to the content', `the first Tab went to "${focused}"`);
  await phone.keyboard.press('Enter');
  expect(phone.url().endsWith('#main'), `Enter led to ${phone.url()}`);
});

await finish({
  add_task_id: addTask, x, y,
  scrape_task_id: scrapeTask, article_ids: articles.map((a) => a.id),
  hostile_task_id: hostileTask, hostile_article_id: xssArticle.id,
  convert_task_id: convertTask, csv, rows, csv_name: csvName,
  output_file_id: outputFile,
  held_task_ids: held, xss_task_id: xssTask, xss_payload: payload,
});
