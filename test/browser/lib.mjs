// test/browser/lib.mjs - what the browser test scripts (live.mjs, pages.mjs) share: Debian's
// headless Chromium (/usr/bin/chromium, or $CHROMIUM) launched through playwright-core, checks
// that print "ok: ..." or fail the run, pages that log what they do, screenshots.
//
//   const [base, ...rest] = init('usage: node test/browser/x.mjs http://HOST:PORT ...', 1);
//   await launch();
//   const page = await openPage('tasks page');             // a new context each
//   await check('the page shows X', async () => { ...; expect(cond, 'why not'); }, 'hint');
//   await shot(page, 'what-it-shows');                     // into $BROWSER_ARTIFACTS
//   await finish({ ids: ... });                            // the RESULT line; exit 0
//
// A failing check prints "FAIL: what: why", what the pages logged and a screenshot of every
// page still open, and exits 1; bad usage exits 2. A dialog (alert, confirm, prompt) in any
// page fails the run: no page of ours opens one, so one means a script got in.
//
// Environment: CHROMIUM (default /usr/bin/chromium); BROWSER_ARTIFACTS, a directory for the
// full-page screenshots (none without it); BROWSER_WAIT_MS (30000), the longest a single wait
// may take; BROWSER_TOTAL_MS (150000), the whole run's limit.
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';

import { chromium } from 'playwright-core';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
// Generous: a SANITIZE=1 webapp and worker are several times slower.
const WAIT_MS = Number(process.env.BROWSER_WAIT_MS) || 30000;
const TOTAL_MS = Number(process.env.BROWSER_TOTAL_MS) || 150000;
const artifacts = process.env.BROWSER_ARTIFACTS || '';
const script = basename(process.argv[1] || 'browser', '.mjs');

const started = Date.now();
export const secs = (since = started) => ((Date.now() - since) / 1000).toFixed(1) + ' s';
export const log = (line) => console.log(`[${secs()}] ${line}`);

let base = ''; // the webapp, http://HOST:PORT (init())
let browser = null;
let watchdog = null;
let failing = false;
let shots = 0;
const notes = []; // what the pages said: shown when a check fails
const pages = []; // every page opened, for the screenshots of a failure

// Checks the command line: nargs arguments, the first nurls of them http://HOST:PORT (the
// first the webapp's). Returns them all, without trailing slashes on the URLs.
export function init(usage, nargs, nurls = 1) {
  const args = process.argv.slice(2)
    .map((a, i) => (i < nurls ? a.replace(/\/+$/, '') : a));
  if (args.length !== nargs || !args.slice(0, nurls).every((a) => /^https?:\/\/[^/]+$/.test(a))) {
    console.error(usage);
    process.exit(2);
  }
  base = args[0];
  if (artifacts) mkdirSync(artifacts, { recursive: true });
  return args;
}

// Never returns: whatever awaits it (a check, or a second failure while the first one closes
// the browser) stops there, so nothing passes after a failure.
async function fail(what, err, hint) {
  if (failing) return new Promise(() => {}); // waits still pending reject as the browser closes
  failing = true;
  // eslint-disable-next-line no-control-regex
  const text = String((err && err.message) || err || '').replace(/\x1b\[[0-9;]*m/g, '');
  const [first, ...rest] = text.split('\n');
  console.log(`FAIL: ${what}${first ? ': ' + first : ''}`);
  if (rest.length) console.log(rest.slice(0, 12).join('\n'));
  if (hint) console.log(`hint: ${hint}`);
  if (notes.length) console.log('what the pages logged:\n  ' + notes.slice(-40).join('\n  '));
  for (const page of pages.filter((p) => !p.isClosed())) {
    await shot(page, `failed-${page.celeriacName}`).catch(() => {});
  }
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
process.on('unhandledRejection', (err) => fail('unexpected error', err));

// A check: run fn, print "ok: what" and return its value, or fail the run (with hint).
export async function check(what, fn, hint) {
  const t0 = Date.now();
  let value;
  try {
    value = await fn();
  } catch (err) {
    await fail(what, err, hint);
  }
  log(`ok: ${what} (${secs(t0)})`);
  return value;
}

export function expect(cond, message) {
  if (!cond) throw new Error(message);
}

// Polls fn (async) every 100 ms until it returns something truthy, and returns that; throws
// message (with the last value) after WAIT_MS.
export async function until(fn, message) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${WAIT_MS / 1000} s waiting for ${message} ` +
                      `(last: ${JSON.stringify(last)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// The element's hidden property, which the page scripts set.
export const hidden = (page, selector) => page.locator(selector).evaluate((e) => e.hidden);

// A full-page screenshot, BROWSER_ARTIFACTS/SCRIPT-NN-step.png, when that is set.
export async function shot(page, step) {
  if (!artifacts) return;
  const name = `${script}-${String(++shots).padStart(2, '0')}-${step.replace(/[^\w.-]+/g, '-')}.png`;
  // A full-page screenshot leaves the page scrolled elsewhere (Chromium 156, playwright 1.61)
  // while a following click aims where the element was: put the scroll back.
  const [x, y] = await page.evaluate(() => [window.scrollX, window.scrollY]);
  await page.screenshot({ path: join(artifacts, name), fullPage: true, timeout: WAIT_MS });
  await page.evaluate(([sx, sy]) => window.scrollTo(sx, sy), [x, y]);
}

// A page that logs its console errors, uncaught exceptions, failed requests and every
// main-frame navigation (a live page must never reload). CSP violations are kept in
// page.cspViolations: a page of ours causes none, so one means markup got in. A dialog fails
// the run.
function watch(page, name) {
  page.celeriacName = name;
  page.navigations = 0;
  page.errors = [];
  page.cspViolations = [];
  pages.push(page);
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) {
      page.navigations++;
      notes.push(`${name}: navigated to ${f.url()}`);
    }
  });
  page.on('pageerror', (e) => {
    page.errors.push(e.message);
    notes.push(`${name}: uncaught ${e.message}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning')
      notes.push(`${name}: console ${m.type()}: ${m.text()}`);
    if (/Content Security Policy/i.test(m.text())) page.cspViolations.push(m.text());
  });
  page.on('requestfailed', (r) => {
    notes.push(`${name}: request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  page.on('dialog', (d) => {
    d.dismiss().catch(() => {});
    fail(`${name} (${page.url()}) opened a dialog`, `${d.type()}: ${JSON.stringify(d.message())}`,
         'something the page shows ran as a script');
  });
  return page;
}

// A page of its own in a new context (options: playwright's, e.g. bypassCSP), whose
// EventSource messages are recorded through the DevTools protocol
// (Network.eventSourceMessageReceived): proof that an update came by the stream, not by a fetch.
export async function openPage(name, options = {}) {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(WAIT_MS);
  const page = watch(await context.newPage(), name);
  page.sse = [];
  const cdp = await context.newCDPSession(page);
  cdp.on('Network.eventSourceMessageReceived', (e) => page.sse.push(e));
  await cdp.send('Network.enable');
  return page;
}

// Opens url in page, expecting a 200.
export async function open(page, url) {
  const r = await page.goto(url, { waitUntil: 'load' });
  expect(r && r.status() === 200, `GET ${url} answered ${r && r.status()}`);
  return r;
}

// Waits for the page's stream on /api/events (topics starting with topicPrefix) to answer
// 200, after run() (which opens or submits something). Marks the document, so that a reload
// shows.
export async function whenLive(page, topicPrefix, run) {
  // chat.js names the topic as it is, live.js percent-encodes it (task%3AID).
  const stream = page.waitForResponse(
    (r) => decodeURIComponent(r.url()).startsWith(`${base}/api/events?topics=${topicPrefix}`),
    { timeout: WAIT_MS });
  stream.catch(() => {}); // when run() fails, its failure is the news
  await run();
  const s = await stream;
  expect(s.status() === 200, `its event stream ${s.url()} answered ${s.status()}`);
  await page.evaluate(() => { window.celeriacNotReloaded = true; });
  page.navigationsWhenLive = page.navigations;
}

// Opens url in page and waits until its stream is open (whenLive).
export async function openLive(page, url, topicPrefix) {
  await whenLive(page, topicPrefix, () => open(page, url));
}

// The page did not navigate since whenLive() or openLive(), and threw nothing.
export async function notReloaded(page, name) {
  const more = page.navigations - page.navigationsWhenLive;
  expect(more === 0, `${name} navigated ${more} more times once live (reloaded?)`);
  expect(await page.evaluate(() => window.celeriacNotReloaded === true),
         `${name} was reloaded (its document is new)`);
  expect(page.errors.length === 0, `${name} threw: ${page.errors.join('; ')}`);
}

// The JSON of GET path on the webapp, through page's context (its cookies, no page change).
export async function getJson(page, path) {
  const r = await page.context().request.get(base + path);
  expect(r.ok(), `GET ${path} answered ${r.status()}: ${await r.text()}`);
  return r.json();
}

// POST path with a JSON body through page's context; expects status, returns the JSON answer.
export async function postJson(page, path, data, status) {
  const r = await page.context().request.post(base + path, { data });
  const body = await r.json().catch(() => null);
  expect(r.status() === status, `POST ${path} answered ${r.status()}: ${JSON.stringify(body)}`);
  return body;
}

export async function launch() {
  watchdog = setTimeout(() => fail(`the whole run took over ${TOTAL_MS / 1000} s`), TOTAL_MS);
  browser = await check(`launch ${executablePath} headless`, () => chromium.launch({
    executablePath,
    headless: true,
    // root has no sandbox; a container's /dev/shm may be small.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: WAIT_MS,
  }));
  log(`browser: Chromium ${browser.version()}, webapp: ${base}` +
      (artifacts ? `, screenshots: ${artifacts}` : ''));
  return browser;
}

// The end of a run that passed: the RESULT line for test/system/test_browser.py.
export async function finish(result) {
  if (failing) return new Promise(() => {});
  clearTimeout(watchdog);
  await browser.close();
  console.log('RESULT ' + JSON.stringify(result));
  log('all browser checks passed');
}
