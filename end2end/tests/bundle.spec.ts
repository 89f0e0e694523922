// The console's bundle over the wire: hashed names, precompressed, cached for good, so a second
// page load transfers none of it; pages and server functions come compressed too.
import { test, expect, ADMIN, login, gotoHydrated } from './fixtures';
import type { CDPSession, Page } from '@playwright/test';

/** Bytes on the wire per URL for what the page loads from now on, and which came from cache. */
async function watchTransfers(page: Page) {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map<string, string>();
  const bytes = new Map<string, number>();
  const cached = new Set<string>();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.requestServedFromCache', (e) => cached.add(e.requestId));
  cdp.on('Network.responseReceived', (e) => {
    if (e.response.fromDiskCache || e.response.fromPrefetchCache) cached.add(e.requestId);
  });
  cdp.on('Network.loadingFinished', (e) => bytes.set(e.requestId, e.encodedDataLength));
  return {
    /** URL → bytes transferred, for requests not answered from the browser's cache. */
    transferred(): Map<string, number> {
      const out = new Map<string, number>();
      for (const [id, n] of bytes) if (!cached.has(id)) out.set(urls.get(id) ?? id, n);
      return out;
    },
    /** URLs the page asked for, cached or not. */
    requested(): string[] {
      return [...urls.values()];
    },
  };
}

test('the bundle is compressed and cached, so a second load transfers none of it', async ({ page }) => {
  const bundle: { url: string; headers: Record<string, string> }[] = [];
  page.on('response', async (r) => {
    if (/\/pkg\/wxpush-[0-9a-f]{16}\.(js|wasm|css)$/.test(r.url())) {
      bundle.push({ url: r.url(), headers: await r.allHeaders() });
    }
  });
  const html = page.waitForResponse((r) => new URL(r.url()).pathname === '/login');
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();

  // The login page named the bundle by its hash and got all three files, brotli-compressed
  // (Chromium accepts br), to be kept for a year.
  expect(['br', 'gzip']).toContain((await (await html).allHeaders())['content-encoding']);
  const kinds = new Set(bundle.map((b) => b.url.split('.').pop()));
  expect([...kinds].sort()).toEqual(['css', 'js', 'wasm']);
  for (const b of bundle) {
    expect(b.headers['content-encoding'], b.url).toBe('br');
    expect(b.headers['cache-control'], b.url).toBe('public, max-age=31536000, immutable');
    expect(b.headers['vary'] ?? '', b.url).toMatch(/accept-encoding/i);
  }

  // Loading the dashboard again hydrates it from the cached bundle: not one byte of it moves.
  const wire = await watchTransfers(page);
  await gotoHydrated(page, '/');
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  const bundleUrls = wire.requested().filter((u) => u.includes('/pkg/wxpush-'));
  expect(bundleUrls.length).toBeGreaterThanOrEqual(2);
  const moved = [...wire.transferred()].filter(([u]) => u.includes('/pkg/'));
  expect(moved).toEqual([]);
  // Server functions answer compressed as well (here the admins' list of processes).
  const fn = await page.evaluate(async () => {
    const r = await fetch('/api/list_instances', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    return { status: r.status, encoding: r.headers.get('content-encoding'), body: await r.text() };
  });
  expect(fn.status).toBe(200);
  expect(fn.encoding).toBe('br');
  expect(fn.body).toContain('"this_process":true');
});

test('a file that is not the current bundle is not cached for good', async ({ request }) => {
  const stale = await request.get('/pkg/wxpush-0000000000000000.wasm');
  expect(stale.status()).toBe(404);
  expect(stale.headers()['cache-control'] ?? '').not.toContain('immutable');
});
