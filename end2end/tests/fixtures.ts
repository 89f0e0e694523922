// Shared helpers: the accounts serve.sh creates, waiting for hydration, and a private server.
import { test as base, expect, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What the browser console says when the app broke: a hydration mismatch, a Rust panic, a
 * resource read outside `<Suspense>`, a trap in the WebAssembly. */
const BROKEN = /hydrat|panicked|Suspense|unreachable|RuntimeError/i;

/**
 * Every spec's `test`. `consoleProblems` holds every warning and error the page's console
 * reported and its uncaught exceptions; a test fails when one of them says the app broke or
 * threw, whatever the test itself checked (pages.spec.ts is stricter: none at all).
 */
export const test = base.extend<{ consoleProblems: string[]; appHealthy: void }>({
  consoleProblems: async ({ page }, use) => {
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
    await use(problems);
  },
  appHealthy: [
    async ({ consoleProblems }, use) => {
      await use();
      const broken = consoleProblems.filter((p) => p.startsWith('exception: ') || BROKEN.test(p));
      expect(broken, 'the browser console reported a broken page').toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };

export const PORT = Number(process.env.E2E_PORT ?? 3100);
export const ADMIN = { username: 'admin', password: 'admin-password-1' };
export const OPERATOR = { username: 'operator', password: 'operator-password-1' };
/** The standalone simulator serve.sh starts, and the accounts it knows. */
export const SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_SIM_PORT ?? 3190)}`,
  oa: { appid: 'wxe2e0000000000001', secret: 'e2e0secret0000000000000000000001' },
  mp: { appid: 'wxe2e0000000000002', secret: 'e2e0secret0000000000000000000002' },
};
/** The second simulator, with 2,500 followers, for the sync tests. */
export const SYNC_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_SYNC_SIM_PORT ?? 3191)}`,
  oa: { appid: 'wxe2e0000000000011', secret: 'e2e0secret0000000000000000000011' },
  mp: { appid: 'wxe2e0000000000012', secret: 'e2e0secret0000000000000000000012' },
};
/** The third simulator, for the templates tests. */
export const TPL_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_TPL_SIM_PORT ?? 3192)}`,
  oa: { appid: 'wxe2e0000000000021', secret: 'e2e0secret0000000000000000000021' },
  mp: { appid: 'wxe2e0000000000022', secret: 'e2e0secret0000000000000000000022' },
};
/** The fourth simulator, for the send job tests. */
export const JOB_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_JOB_SIM_PORT ?? 3193)}`,
  oa: { appid: 'wxe2e0000000000031', secret: 'e2e0secret0000000000000000000031' },
  mp: { appid: 'wxe2e0000000000032', secret: 'e2e0secret0000000000000000000032' },
};

/** The fifth simulator, for the channel tests. */
export const CH_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_CH_SIM_PORT ?? 3194)}`,
  oa: { appid: 'wxe2e0000000000041', secret: 'e2e0secret0000000000000000000041' },
  mp: { appid: 'wxe2e0000000000042', secret: 'e2e0secret0000000000000000000042' },
};

/** The sixth simulator, for the approval tests. */
export const APPROVAL_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_APPROVAL_SIM_PORT ?? 3195)}`,
  oa: { appid: 'wxe2e0000000000051', secret: 'e2e0secret0000000000000000000051' },
  mp: { appid: 'wxe2e0000000000052', secret: 'e2e0secret0000000000000000000052' },
};

/** The seventh simulator, for the send API tests. */
export const API_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_API_SIM_PORT ?? 3196)}`,
  oa: { appid: 'wxe2e0000000000061', secret: 'e2e0secret0000000000000000000061' },
  mp: { appid: 'wxe2e0000000000062', secret: 'e2e0secret0000000000000000000062' },
};

/** The eighth simulator, for jobs with each person's values from a spreadsheet. */
export const SHEET_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_SHEET_SIM_PORT ?? 3197)}`,
  oa: { appid: 'wxe2e0000000000071', secret: 'e2e0secret0000000000000000000071' },
  mp: { appid: 'wxe2e0000000000072', secret: 'e2e0secret0000000000000000000072' },
};

/** The ninth simulator, for scheduled jobs. */
export const SCHED_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_SCHED_SIM_PORT ?? 3198)}`,
  oa: { appid: 'wxe2e0000000000081', secret: 'e2e0secret0000000000000000000081' },
  mp: { appid: 'wxe2e0000000000082', secret: 'e2e0secret0000000000000000000082' },
};

export const RECUR_SIM = {
  url: `http://127.0.0.1:${Number(process.env.E2E_RECUR_SIM_PORT ?? 3199)}`,
  oa: { appid: 'wxe2e0000000000091', secret: 'e2e0secret0000000000000000000091' },
  mp: { appid: 'wxe2e0000000000092', secret: 'e2e0secret0000000000000000000092' },
};

/** Loads a page and waits until the WebAssembly app has hydrated it, so clicks are handled. */
export async function gotoHydrated(page: Page, url: string) {
  await page.goto(url);
  await waitForHydration(page);
}

export async function waitForHydration(page: Page) {
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}

export async function login(page: Page, who: { username: string; password: string }) {
  await gotoHydrated(page, '/login');
  await page.getByLabel('用户名').fill(who.username);
  await page.getByLabel('密码').fill(who.password);
  await page.getByRole('button', { name: '登录' }).click();
}

/** A second console on its own port and empty database, with its log, for first-run tests. */
export async function startFreshServer(port: number): Promise<{ proc: ChildProcess; log: () => string; stop: () => void }> {
  const dir = path.join(__dirname, '..', '.state', `fresh-${port}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const proc = spawn(process.env.WXPUSH_BIN!, ['serve'], {
    env: {
      ...process.env,
      WXPUSH_ADDR: `127.0.0.1:${port}`,
      WXPUSH_DATABASE_URL: `sqlite:${dir}/fresh.db`,
      WXPUSH_LOG: 'info',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr!.on('data', (chunk) => (log += chunk.toString()));
  await expect.poll(() => log, { timeout: 60_000 }).toContain('wxpush listening on');
  return { proc, log: () => log, stop: () => proc.kill('SIGTERM') };
}

/** Adds `sim`'s Official Account as `name` on the settings page and makes it the current one. */
export async function addSimAccount(page: Page, name: string, sim: { url: string; oa: { appid: string; secret: string } }) {
  await page.goto('/settings');
  await waitForHydration(page);
  const form = page.getByRole('region', { name: '添加账号' });
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill(name);
  await form.getByLabel('AppID').fill(sim.oa.appid);
  await form.getByLabel('AppSecret').fill(sim.oa.secret);
  await form.getByLabel('API 地址').fill(sim.url);
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(page.getByRole('rowheader', { name })).toBeVisible();
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
    page.getByLabel('当前账号').selectOption({ label: name }),
  ]);
}

/** Syncs the current account's followers on the followers page and waits for the end. */
export async function syncFollowers(page: Page) {
  await page.goto('/followers');
  await waitForHydration(page);
  await page.getByRole('button', { name: '同步粉丝' }).click();
  await expect(page.getByRole('progressbar', { name: '同步进度' })).toHaveAttribute('value', '100', { timeout: 60_000 });
}

/** Syncs the OA templates and saves a preset `name` of 订单状态通知, filled in validly. */
export async function createOrderPreset(page: Page, name: string) {
  await page.goto('/templates');
  await waitForHydration(page);
  const oaSection = page.getByRole('region', { name: '公众号模板消息' });
  await oaSection.getByRole('button', { name: '同步模板消息' }).click();
  await expect(oaSection.getByRole('status')).toContainText('同步完成');
  await oaSection.getByRole('article', { name: '订单状态通知' }).getByRole('link', { name: '用此模板新建预设' }).click();
  await waitForHydration(page);
  await page.getByLabel('预设名称').fill(name);
  await page.getByLabel('商品名称', { exact: true }).fill('无线蓝牙耳机');
  await page.getByLabel('订单编号', { exact: true }).fill('20231018123456');
  await page.getByLabel('下单时间', { exact: true }).fill('2023-10-18 14:30');
  await page.getByLabel('订单金额', { exact: true }).fill('¥199.00');
  await page.getByLabel('订单状态', { exact: true }).fill('已发货');
  await page.getByRole('button', { name: '保存预设' }).click();
  await expect(page).toHaveURL(/\/templates\/presets\/\d+$/);
}
