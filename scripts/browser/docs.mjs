// Browser test of the Swagger UI that bookshelf serves at /docs.
//
//   node scripts/browser/docs.mjs BASE_URL SCREENSHOT.png
//   e.g. node scripts/browser/docs.mjs http://127.0.0.1:8124 target/docs-screenshot.png
//
// Drives the system Chromium (/usr/bin/chromium, or $CHROMIUM) headless with
// playwright-core: opens BASE/docs, waits for Swagger UI to render, checks that
// every operation of the `books` and `reviews` tags in /openapi.json is shown
// (GET /books and POST /books/{id}/reviews at least), runs GET /books through
// "Try it out" / "Execute" and expects the UI to show a live 200, and fails if
// the page asked any origin but BASE's for anything (the UI must work offline).
// A full-page screenshot is saved to SCREENSHOT (also when a check failed).
//
// Swagger UI behaves differently on a loopback host: it skips its online
// validator badge (an <img> from validator.swagger.io) only when the spec URL
// names localhost or 127.0.0.1. So the page is also opened under a made-up host
// name that Chromium resolves to BASE's address (--host-resolver-rules); a
// request to another origin there is a failure too (bookshelf sets
// validatorUrl to "none"). Requests to other origins are never sent: they are
// aborted in the browser and only recorded.
//
// Each check may take 30 s (DOCS_STEP_TIMEOUT_MS), the whole run 120 s
// (DOCS_TOTAL_TIMEOUT_MS). Prints one line per check and a closing
// "docs: N passed, N failed" line.
// Exit status: 0 all checks passed, 1 a check failed or timed out, 2 usage.

import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = Number(process.env.DOCS_STEP_TIMEOUT_MS || 30_000);
// A hard stop for the whole script, whatever hangs (launch included).
const TOTAL_TIMEOUT_MS = Number(process.env.DOCS_TOTAL_TIMEOUT_MS || 120_000);
const ALIAS_HOST = 'bookshelf-docs.test';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
  '--disable-quic',
  '--disable-component-update',
  '--disable-sync',
];

// Operations that must be in the spec and on the page whatever else is added.
const REQUIRED_OPERATIONS = [
  { tag: 'books', method: 'GET', path: '/books' },
  { tag: 'reviews', method: 'POST', path: '/books/{id}/reviews' },
];
const CHECKED_TAGS = ['books', 'reviews'];
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function usage(message) {
  console.error(`docs.mjs: ${message}`);
  console.error('usage: node docs.mjs BASE_URL SCREENSHOT.png   (e.g. http://127.0.0.1:8124 target/docs-screenshot.png)');
  process.exit(2);
}

const [baseArg, screenshotPath] = process.argv.slice(2);
if (!baseArg || !screenshotPath) usage('needs BASE_URL and SCREENSHOT path');
let base;
try {
  base = new URL(baseArg);
} catch {
  usage(`not a URL: ${baseArg}`);
}
if (base.protocol !== 'http:' && base.protocol !== 'https:') usage(`not an http(s) URL: ${baseArg}`);
const origin = base.origin;
const baseUrl = origin + base.pathname.replace(/\/+$/, '');
const alias = new URL(baseUrl);
alias.hostname = ALIAS_HOST;
const aliasOrigin = alias.origin;
const aliasUrl = aliasOrigin + alias.pathname.replace(/\/+$/, '');

let passed = 0;
let failed = 0;
let browser;

// playwright-core kills the Chromium it launched when this process exits.
const watchdog = setTimeout(() => {
  console.log(`FAIL whole run: still running after ${TOTAL_TIMEOUT_MS} ms, giving up`);
  console.log(`docs: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

class CheckFailed extends Error {}

// Runs fn, rejecting if it takes more than STEP_TIMEOUT_MS.
async function withTimeout(fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`took more than ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Runs one check, bounded by STEP_TIMEOUT_MS; prints "ok" or "FAIL" and throws
// CheckFailed on failure so that later checks (which depend on it) are skipped.
async function check(name, fn) {
  const started = Date.now();
  try {
    const detail = await withTimeout(fn);
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - started} ms)${detail ? ` — ${detail}` : ''}`);
    return detail;
  } catch (err) {
    failed += 1;
    const message = (err && err.message ? err.message : String(err)).split('\n')[0];
    console.log(`FAIL ${name} (${Date.now() - started} ms): ${message}`);
    throw new CheckFailed(name);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function isLocalScheme(url) {
  return /^(data|blob|about):/.test(url);
}

async function main() {
  const foreignRequests = [];
  const failedSameOrigin = [];
  const pageErrors = [];
  let page;
  let screenshotTaken = false;
  let foreignChecked = false;

  // Opens the docs again as http://bookshelf-docs.test:PORT/docs (mapped to
  // BASE's address) and records requests to any origin but that one.
  async function offlineUnderAlias() {
    const foreign = [];
    let context;
    const name = `no request left ${aliasOrigin} (the docs under a non-loopback host name)`;
    const started = Date.now();
    try {
      await withTimeout(async () => {
        context = await browser.newContext({ ignoreHTTPSErrors: true });
        context.setDefaultTimeout(STEP_TIMEOUT_MS);
        await context.route('**/*', (route) => {
          const url = route.request().url();
          if (isLocalScheme(url) || new URL(url).origin === aliasOrigin) return route.continue();
          foreign.push(`${route.request().method()} ${url}`);
          return route.abort('internetdisconnected');
        });
        const aliasPage = await context.newPage();
        const response = await aliasPage.goto(`${aliasUrl}/docs`, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
        assert(response && response.status() === 200, `GET ${aliasUrl}/docs answered ${response && response.status()}`);
        await aliasPage.locator('.swagger-ui .information-container .info .title').waitFor({ state: 'visible' });
        // The badge is requested once the spec has loaded; give it a moment.
        await aliasPage.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
      });
    } catch (err) {
      failed += 1;
      console.log(`FAIL ${name} (${Date.now() - started} ms): ${err.message.split('\n')[0]}`);
      throw new CheckFailed(name);
    } finally {
      await context?.close().catch(() => {});
    }
    const ms = Date.now() - started;
    if (!foreign.length) {
      passed += 1;
      console.log(`ok   ${name} (${ms} ms)`);
    } else {
      failed += 1;
      const hint = foreign.some((r) => r.includes('validator.swagger.io'))
        ? ' (Swagger UI\'s online validator badge: set validatorUrl to "none")'
        : '';
      console.log(`FAIL ${name} (${ms} ms): ${foreign.length} request(s) to other hosts: ${foreign.join(', ')}${hint}`);
    }
  }

  try {
    await check(`launch ${CHROMIUM}`, async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${ALIAS_HOST} ${base.host}`],
        timeout: STEP_TIMEOUT_MS,
      });
      return `Chromium ${browser.version()}`;
    });

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    // Record every request; answer those for another origin with an immediate
    // failure so the page behaves as it would offline (no hanging on DNS).
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocalScheme(url) || new URL(url).origin === origin) return route.continue();
      return route.abort('internetdisconnected');
    });
    page = await context.newPage();
    page.on('request', (request) => {
      const url = request.url();
      if (!isLocalScheme(url) && new URL(url).origin !== origin) {
        foreignRequests.push(`${request.method()} ${url}`);
      }
    });
    page.on('response', (response) => {
      const url = response.url();
      if (!isLocalScheme(url) && new URL(url).origin === origin && response.status() >= 400) {
        failedSameOrigin.push(`${response.status()} ${response.request().method()} ${url}`);
      }
    });
    page.on('requestfailed', (request) => {
      const url = request.url();
      if (!isLocalScheme(url) && new URL(url).origin === origin) {
        failedSameOrigin.push(`${request.failure()?.errorText} ${request.method()} ${url}`);
      }
    });
    page.on('pageerror', (err) => pageErrors.push(err.message.split('\n')[0]));

    await check(`GET ${baseUrl}/docs loads`, async () => {
      const response = await page.goto(`${baseUrl}/docs`, { waitUntil: 'load' });
      assert(response, 'no response');
      assert(response.status() === 200, `status ${response.status()} at ${response.url()}`);
      return `${response.status()} at ${page.url()}`;
    });

    await check('Swagger UI renders the spec', async () => {
      const title = page.locator('.swagger-ui .information-container .info .title');
      const loadError = page.locator('.swagger-ui .errors-wrapper, .swagger-ui .loading-container .errors');
      await Promise.race([
        title.waitFor({ state: 'visible' }),
        loadError.first().waitFor({ state: 'visible' }).then(async () => {
          throw new Error(`Swagger UI shows an error: ${(await loadError.first().innerText()).trim()}`);
        }),
      ]);
      await page.locator('.swagger-ui .opblock').first().waitFor({ state: 'visible' });
      return `title "${(await title.innerText()).replace(/\s+/g, ' ').trim()}"`;
    });

    // The operations the spec puts under the checked tags, read from the
    // same /openapi.json the page loaded.
    let expected = [];
    await check('/openapi.json lists the books and reviews operations', async () => {
      const response = await page.request.get(`${baseUrl}/openapi.json`);
      assert(response.ok(), `/openapi.json answered ${response.status()}`);
      const spec = await response.json();
      for (const [path, item] of Object.entries(spec.paths || {})) {
        for (const method of HTTP_METHODS) {
          const op = item[method];
          if (!op) continue;
          for (const tag of op.tags || ['default']) {
            if (CHECKED_TAGS.includes(tag)) expected.push({ tag, method: method.toUpperCase(), path });
          }
        }
      }
      const missing = REQUIRED_OPERATIONS.filter(
        (r) => !expected.some((e) => e.tag === r.tag && e.method === r.method && e.path === r.path),
      );
      assert(!missing.length, `missing from the spec: ${missing.map((m) => `${m.method} ${m.path} [${m.tag}]`).join(', ')}`);
      return CHECKED_TAGS.map((t) => `${t}: ${expected.filter((e) => e.tag === t).length}`).join(', ');
    });

    const opblock = (tag, method, path) =>
      page
        .locator(`.opblock-tag-section:has(> .opblock-tag[data-tag="${tag}"]) .opblock.opblock-${method.toLowerCase()}`)
        .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });

    for (const tag of CHECKED_TAGS) {
      const ops = expected.filter((e) => e.tag === tag);
      await check(`tag "${tag}" shows its ${ops.length} operations`, async () => {
        const missing = [];
        for (const { method, path } of ops) {
          const block = opblock(tag, method, path);
          if ((await block.count()) !== 1 || !(await block.first().isVisible())) {
            missing.push(`${method} ${path}`);
            continue;
          }
          const shownMethod = (await block.locator('.opblock-summary-method').first().innerText()).trim();
          if (shownMethod !== method) missing.push(`${method} ${path} (shown as ${shownMethod})`);
        }
        assert(!missing.length, `not shown: ${missing.join(', ')}`);
        return ops.map((o) => `${o.method} ${o.path}`).join(', ');
      });
    }

    const listBooks = opblock('books', 'GET', '/books');
    await check('expand GET /books', async () => {
      await listBooks.locator('.opblock-summary').first().click();
      await listBooks.locator('.opblock-body').waitFor({ state: 'visible' });
      const button = listBooks.locator('button.try-out__btn');
      await button.waitFor({ state: 'visible' });
      return `"${(await button.innerText()).trim()}" button shown`;
    });

    await check('Try it out, then Execute GET /books', async () => {
      await listBooks.locator('button.try-out__btn').click();
      const execute = listBooks.locator('button.execute');
      await execute.waitFor({ state: 'visible' });
      const [response] = await Promise.all([
        page.waitForResponse(
          (r) => r.request().method() === 'GET' && new URL(r.url()).pathname === `${base.pathname.replace(/\/+$/, '')}/books`,
        ),
        execute.click(),
      ]);
      return `the page fetched ${response.url()} → ${response.status()}`;
    });

    await check('live response shows 200', async () => {
      const status = listBooks.locator('.live-responses-table tbody tr.response .response-col_status').first();
      await status.waitFor({ state: 'visible' });
      const code = (await status.innerText()).trim();
      const body = (await listBooks.locator('.live-responses-table tbody tr.response .response-col_description').first().innerText()).trim();
      assert(code === '200', `response code shown is "${code}"; body: ${body.replace(/\s+/g, ' ').slice(0, 200)}`);
      const requestUrl = listBooks.locator('.request-url pre, .request-url .microlight').first();
      const shownUrl = (await requestUrl.count()) ? (await requestUrl.innerText()).trim() : '?';
      return `request URL ${shownUrl}`;
    });

    await check('every same-origin request succeeded', async () => {
      assert(!failedSameOrigin.length, failedSameOrigin.join('; '));
    });

    await check('no uncaught JavaScript errors', async () => {
      assert(!pageErrors.length, pageErrors.join('; '));
    });

    foreignChecked = true;
    await check(`no request left ${origin}`, async () => {
      assert(!foreignRequests.length, `${foreignRequests.length} request(s) to other hosts: ${foreignRequests.join(', ')}`);
    });

    // Screenshot of the main page now, before the second context opens.
    await check(`screenshot saved to ${screenshotPath}`, async () => {
      await page.screenshot({ path: screenshotPath, fullPage: true });
      screenshotTaken = true;
    });

    await offlineUnderAlias();
  } catch (err) {
    if (!(err instanceof CheckFailed)) {
      failed += 1;
      console.log(`FAIL unexpected error: ${err && err.stack ? err.stack : err}`);
    }
  } finally {
    // A check failed before the offline check ran: still report other hosts.
    if (!foreignChecked && foreignRequests.length) {
      failed += 1;
      console.log(`FAIL no request left ${origin}: ${foreignRequests.length} request(s) to other hosts so far: ${foreignRequests.join(', ')}`);
    }
    // After a failed check, save what the page showed then, for debugging.
    if (page && !screenshotTaken) {
      try {
        await page.screenshot({ path: screenshotPath, fullPage: true, timeout: 10_000 });
        console.log(`note screenshot of the failed run saved to ${screenshotPath}`);
      } catch (err) {
        console.log(`note no screenshot: ${err.message.split('\n')[0]}`);
      }
    }
    if (browser) await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
  }
}

await main();
clearTimeout(watchdog);
console.log(`docs: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
