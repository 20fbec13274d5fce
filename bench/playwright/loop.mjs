// The Playwright side of bench/playwright.sh: one browser (playwright-core on the given Chromium
// binary), CONCURRENCY workers each looping on a check for DURATION seconds. A check is what a
// pageinspect browser probe of the bench does: a fresh browser context and page, load the URL
// (to its load event, or to network idle with BENCH_IDLE_MS > 0), then status 200, `h1` text
// "Ready" and no uncaught JavaScript error; the context is closed after each check.
//
//   node loop.mjs EXECUTABLE URL CONCURRENCY DURATION_SECONDS [IDLE_MS]
//
// Prints "ready" once the browser runs (the caller starts measuring then) and, at the end, one
// JSON line: {"ok": n, "failed": n, "errors": {...}, "durations_ms": [...]}.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const [executablePath, url, concurrencyArg, durationArg, idleArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const duration = Number(durationArg) * 1000;
const waitUntil = Number(idleArg ?? 0) > 0 ? 'networkidle' : 'load';

const browser = await chromium.launch({ executablePath, headless: true });

async function check() {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    const response = await page.goto(url, { waitUntil, timeout: 15000 });
    const text = await page.textContent('h1');
    if (response?.status() !== 200) return `status ${response?.status()}`;
    if (text !== 'Ready') return `h1 ${text}`;
    if (errors.length) return 'js error';
    return null;
  } finally {
    await context.close();
  }
}

// Warm up as the pageinspect side does, then wait for the caller to start the level.
for (let i = 0; i < 4; i++) await check();
console.log('ready');
const input = readline.createInterface({ input: process.stdin });
await new Promise((resolve) => input.once('line', resolve));
input.close();

const result = { ok: 0, failed: 0, errors: {}, durations_ms: [] };
const stopAt = performance.now() + duration;
async function worker() {
  while (performance.now() < stopAt) {
    const started = performance.now();
    let why;
    try {
      why = await check();
    } catch (e) {
      why = e.name || 'error';
    }
    result.durations_ms.push(performance.now() - started);
    if (why) {
      result.failed++;
      result.errors[why] = (result.errors[why] ?? 0) + 1;
    } else {
      result.ok++;
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
console.log(JSON.stringify(result));
await browser.close();
