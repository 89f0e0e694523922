// Admins add WeChat accounts and test the connection against the simulator; secrets never come back.
import { test, expect, ADMIN, OPERATOR, SIM, login, waitForHydration } from './fixtures';

test('an admin adds accounts, tests the connection, and sees WeChat errors explained', async ({ page }) => {
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await waitForHydration(page);
  await page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: '设置' }).click();
  await expect(page.getByRole('heading', { name: '微信账号' })).toBeVisible();

  const form = page.getByRole('region', { name: '添加账号' });
  await form.getByLabel('AppID').fill('wx123');
  await expect(form.getByText('AppID 以 wx 开头，共 18 位字母或数字')).toBeVisible();

  // The Official Account with the right secret.
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill('测试公众号');
  await form.getByLabel('AppID').fill(SIM.oa.appid);
  await form.getByLabel('AppSecret').fill(SIM.oa.secret);
  await form.getByLabel('API 地址').fill(SIM.url);
  await form.getByRole('button', { name: '添加账号' }).click();
  const accounts = page.getByRole('region', { name: '微信账号' });
  await expect(accounts.getByRole('rowheader', { name: '测试公众号' })).toBeVisible();

  await accounts.getByRole('button', { name: '测试连接 测试公众号' }).click();
  await expect(accounts.getByRole('status')).toContainText('连接成功');
  const oaRow = accounts.getByRole('row').filter({ has: page.getByRole('rowheader', { name: '测试公众号' }) });
  await expect(oaRow.getByText(/有效期至 \d{4}-\d{2}-\d{2}/)).toBeVisible();

  // The Mini Program, linked to it, with a wrong secret.
  await form.getByLabel('类型').selectOption({ label: '小程序' });
  await form.getByLabel('名称').fill('测试小程序');
  await form.getByLabel('AppID').fill(SIM.mp.appid);
  await form.getByLabel('AppSecret').fill('000000000000000000000000000wrong');
  await form.getByLabel('API 地址').fill(SIM.url);
  await form.getByLabel('关联账号').selectOption({ label: `测试公众号 (${SIM.oa.appid})` });
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(accounts.getByRole('rowheader', { name: '测试小程序' })).toBeVisible();
  await accounts.getByRole('button', { name: '测试连接 测试小程序' }).click();
  const failure = accounts.getByRole('status').filter({ hasText: '40125' });
  await expect(failure).toContainText('AppSecret 错误');

  // Secrets are never sent back to the browser.
  await page.reload();
  await waitForHydration(page);
  const html = await page.content();
  expect(html).not.toContain(SIM.oa.secret);
  expect(html).not.toContain('000000000000000000000000000wrong');
  for (const name of ['测试公众号', '测试小程序']) {
    const row = accounts.getByRole('row').filter({ has: page.getByRole('rowheader', { name }) });
    await expect(row.getByText('已设置 ••••••')).toHaveCount(1);
  }
  await expect(accounts.getByText(`${'http://127.0.0.1'}`).first()).toBeVisible();

  // Deleting asks first: it says what goes with the account and wants its AppID typed.
  const mpRow = accounts.getByRole('row').filter({ has: page.getByRole('rowheader', { name: '测试小程序' }) });
  await mpRow.getByText('删除', { exact: true }).click();
  const confirm = mpRow.getByRole('group', { name: '确认删除 测试小程序' });
  await expect(confirm).toContainText('将同时永久删除');
  await expect(confirm).toContainText('此操作无法撤销');
  await confirm.getByLabel(`输入 AppID ${SIM.mp.appid} 以确认`).fill('wx0000');
  await confirm.getByRole('button', { name: '永久删除' }).click();
  await expect(confirm.getByRole('alert')).toContainText('与账号的 AppID 不一致，未删除');
  await expect(accounts.getByRole('rowheader', { name: '测试小程序' })).toBeVisible();
  await confirm.getByLabel(`输入 AppID ${SIM.mp.appid} 以确认`).fill(SIM.mp.appid);
  await confirm.getByRole('button', { name: '永久删除' }).click();
  await expect(accounts.getByRole('rowheader', { name: '测试小程序' })).toHaveCount(0);

  // The switcher offers the Official Account.
  await expect(page.getByLabel('当前账号')).toHaveValue(/\d+/);
  await expect(page.getByLabel('当前账号').getByRole('option', { name: '测试公众号' })).toHaveCount(1);
});

test('operators do not manage accounts, and the server refuses them too', async ({ page }) => {
  await login(page, OPERATOR);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await page.goto('/settings');
  await expect(page.getByText('微信账号由管理员管理。')).toBeVisible();
  await expect(page.getByRole('button', { name: '添加账号' })).toHaveCount(0);
  const res = await page.request.post('/api/list_accounts', { headers: { Accept: 'application/json' } });
  expect(res.status()).toBe(403);
});
