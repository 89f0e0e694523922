// `make bench`: what a browser transfers for the dashboard of a logged-in admin, cold and warm,
// and how long the page takes to become interactive over an emulated Fast 3G line.
// Usage: node end2end/bench/dashboard.mjs BASE_URL USERNAME PASSWORD
// Prints `bench dashboard_cold_kb`, `bench dashboard_warm_kb`, `bench dashboard_interactive_ms`.
import { chromium } from '@playwright/test';

const [base, username, password] = process.argv.slice(2);
if (!base || !username || !password) {
  console.error('usage: node end2end/bench/dashboard.mjs BASE_URL USERNAME PASSWORD');
  process.exit(2);
}
// Lighthouse's mobile profile, as the issue sets it: 1.6 Mbit/s down, 750 kbit/s up, 150 ms.
const FAST_3G = { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 };
const RUNS = 5;

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--disable-gpu', '--disable-quic'] });

// Log in once; every measured load starts from these cookies and an empty cache.
const loginContext = await browser.newContext({ baseURL: base });
const loginPage = await loginContext.newPage();
await loginPage.goto('/login');
await loginPage.locator('html[data-hydrated="true"]').waitFor({ state: 'attached' });
await loginPage.getByLabel('用户名').fill(username);
await loginPage.getByLabel('密码').fill(password);
await loginPage.getByRole('button', { name: '登录' }).click();
await loginPage.getByRole('heading', { level: 1, name: '仪表盘' }).waitFor();
const storageState = await loginContext.storageState();
await loginContext.close();

/** A page in a fresh context (empty cache) that records the moment it became interactive. */
async function freshPage() {
  const context = await browser.newContext({ baseURL: base, storageState });
  const page = await context.newPage();
  await page.addInitScript(() => {
    // The script runs before <html> exists: watch the whole document for the mark.
    new MutationObserver((_, observer) => {
      if (document.documentElement?.dataset.hydrated === 'true') {
        window.__interactiveAt = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => (bytes += e.encodedDataLength));
  return { context, page, cdp, bytes: () => bytes, reset: () => (bytes = 0) };
}

/** Loads the dashboard and waits until it is interactive and its own requests are done. */
async function loadDashboard(page) {
  await page.goto('/');
  await page.waitForFunction(() => window.__interactiveAt !== undefined, null, { timeout: 120_000 });
  await page.waitForLoadState('networkidle');
  if (!(await page.getByRole('heading', { level: 1, name: '仪表盘' }).isVisible())) {
    throw new Error('the dashboard did not render (logged out?)');
  }
  return page.evaluate(() => window.__interactiveAt);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Cold and warm transfer, on the real loopback line.
const cold = [];
const warm = [];
for (let i = 0; i < RUNS; i++) {
  const p = await freshPage();
  await loadDashboard(p.page);
  cold.push(p.bytes());
  p.reset();
  await loadDashboard(p.page);
  warm.push(p.bytes());
  await p.context.close();
}

// Navigation start to interactive, cold, over Fast 3G.
const interactive = [];
for (let i = 0; i < RUNS; i++) {
  const p = await freshPage();
  await p.cdp.send('Network.emulateNetworkConditions', FAST_3G);
  interactive.push(await loadDashboard(p.page));
  await p.context.close();
}
await browser.close();

console.error(
  `dashboard: ${RUNS} runs each; cold KB ${cold.map((b) => (b / 1024).toFixed(1)).join(' ')}; ` +
    `warm KB ${warm.map((b) => (b / 1024).toFixed(1)).join(' ')}; ` +
    `interactive ms ${interactive.map((t) => t.toFixed(0)).join(' ')}`,
);
console.log(`bench dashboard_cold_kb ${(median(cold) / 1024).toFixed(1)} KB`);
console.log(`bench dashboard_warm_kb ${(median(warm) / 1024).toFixed(1)} KB`);
console.log(`bench dashboard_interactive_ms ${median(interactive).toFixed(0)} ms`);
