// Every page of the console opens without a console error, a hydration warning or an uncaught
// exception in the browser: as a visitor, then as an admin.
import { test, expect, ADMIN, login, gotoHydrated } from './fixtures';
import type { Page } from '@playwright/test';

/** Opens `path`, waits for hydration and for the page's own requests to settle. */
async function visit(page: Page, path: string) {
  await gotoHydrated(page, path);
  await page.waitForLoadState('networkidle');
}

test('the login page is clean for a visitor', async ({ page, consoleProblems: problems }) => {
  await visit(page, '/login');
  await expect(page.getByRole('button', { name: '登录' })).toBeVisible();
  expect(problems).toEqual([]);
});

test('every page of the console is clean for an admin', async ({ page, consoleProblems: problems }) => {
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  const pages: [string, string][] = [
    ['/', '仪表盘'],
    ['/followers', '粉丝'],
    ['/templates', '模板'],
    ['/jobs', '发送任务'],
    ['/jobs/new', '新建发送任务'],
    ['/schedules', '定时任务'],
    ['/api-messages', '接口消息'],
    ['/settings', '设置'],
    ['/staff', '员工'],
    ['/audit', '审计日志'],
  ];
  for (const [path, heading] of pages) {
    await visit(page, path);
    await expect(page.getByRole('heading', { level: 1, name: heading }), path).toBeVisible();
    expect(problems, path).toEqual([]);
  }
  // An unknown address is a 404 page, which the browser reports as such; nothing else.
  await visit(page, '/no-such-page');
  await expect(page.getByRole('heading', { level: 1, name: '页面不存在' })).toBeVisible();
  expect(problems).toEqual([
    'error: Failed to load resource: the server responded with a status of 404 (Not Found)',
  ]);
});
