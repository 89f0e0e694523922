// Logging in and out, the server-side guard, and the language switch.
import { test, expect, ADMIN, OPERATOR, gotoHydrated, login, waitForHydration } from './fixtures';

test('an unauthenticated visit to /followers ends on /login, and login returns there', async ({ page }) => {
  await page.goto('/followers');
  await expect(page).toHaveURL(/\/login\?next=\/followers$/);
  await waitForHydration(page);
  await page.getByLabel('用户名').fill(ADMIN.username);
  await page.getByLabel('密码').fill(ADMIN.password);
  await page.getByRole('button', { name: '登录' }).click();
  await expect(page).toHaveURL(/\/followers$/);
  await expect(page.getByRole('heading', { level: 1, name: '粉丝' })).toBeVisible();
  await expect(page.getByText('还没有粉丝数据')).toBeVisible();
});

test('a wrong password shows an error and stays on the login page', async ({ page }) => {
  await login(page, { username: ADMIN.username, password: 'definitely-wrong' });
  await expect(page.getByRole('alert')).toHaveText('用户名或密码错误');
  await expect(page).toHaveURL(/\/login/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('the right password lands on the dashboard, and logout ends the session', async ({ page }) => {
  await login(page, ADMIN);
  await expect(page).toHaveURL(/\/$/);
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await expect(page.getByRole('banner').getByText(ADMIN.username, { exact: true })).toBeVisible();
  await expect(page.getByRole('banner').getByText('管理员', { exact: true })).toBeVisible();
  await expect(page.getByText('还没有数据')).toBeVisible();

  const nav = page.getByRole('navigation', { name: '主导航' });
  for (const name of ['仪表盘', '粉丝', '模板', '发送任务', '设置']) {
    await expect(nav.getByRole('link', { name })).toBeVisible();
  }
  await nav.getByRole('link', { name: '发送任务' }).click();
  await expect(page.getByRole('heading', { level: 1, name: '发送任务' })).toBeVisible();
  await expect(page.getByLabel('当前账号')).toBeDisabled();

  await page.getByRole('button', { name: '退出登录' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/jobs');
  await expect(page).toHaveURL(/\/login\?next=\/jobs$/);
});

test('the language switch changes the interface and is remembered for the user', async ({ page, context }) => {
  await login(page, OPERATOR);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await waitForHydration(page);
  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Followers' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');

  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();

  // A new browser session, logged in again: still English.
  await context.clearCookies();
  await gotoHydrated(page, '/login');
  await page.getByLabel('用户名').fill(OPERATOR.username);
  await page.getByLabel('密码').fill(OPERATOR.password);
  await page.getByRole('button', { name: '登录' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByRole('banner').getByText('Operator', { exact: true })).toBeVisible();

  await waitForHydration(page);
  await page.getByRole('button', { name: '中文' }).click();
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
});
