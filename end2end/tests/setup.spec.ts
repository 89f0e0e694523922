// The one-time setup link a fresh install prints creates the first admin exactly once.
import { test, expect, waitForHydration, startFreshServer } from './fixtures';

test('the setup link from the log creates the first admin, then stops working', async ({ page }) => {
  const server = await startFreshServer(3111);
  try {
    const match = server.log().match(/(http:\/\/127\.0\.0\.1:3111\/setup\?token=[0-9a-f]{64})/);
    expect(match, 'the log shows a setup link').not.toBeNull();
    const link = match![1];

    await page.goto(link);
    await waitForHydration(page);
    await expect(page.getByRole('heading', { name: '创建第一个管理员' })).toBeVisible();
    await page.getByLabel('用户名').fill('chief');
    await page.getByLabel('密码', { exact: true }).fill('short');
    await expect(page.getByText('至少 10 个字符')).toBeVisible();
    await page.getByLabel('密码', { exact: true }).fill('chief-password-1');
    await page.getByLabel('确认密码').fill('chief-password-2');
    await expect(page.getByText('两次输入的密码不一致')).toBeVisible();
    await page.getByLabel('确认密码').fill('chief-password-1');
    await page.getByRole('button', { name: '创建管理员' }).click();

    await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
    await expect(page.getByRole('banner').getByText('chief')).toBeVisible();

    await page.context().clearCookies();
    await page.goto(link);
    await expect(page.getByRole('alert')).toContainText('此设置链接无效或已被使用');
    await expect(page.getByRole('button', { name: '创建管理员' })).toHaveCount(0);
  } finally {
    server.stop();
  }
});
