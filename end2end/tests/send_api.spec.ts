// The send API from the console: an admin creates a send key (shown once), a business system's
// request with it appears on 接口消息 once sent, and revoking the key refuses the next request.
import { test, expect, ADMIN, API_SIM, createOrderPreset, login, syncFollowers, waitForHydration } from './fixtures';

test('create a send key, send through the API, see the message, revoke the key', async ({ page, request }) => {
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();

  // An Official Account with its followers and a preset.
  await page.goto('/settings');
  await waitForHydration(page);
  const form = page.getByRole('region', { name: '添加账号' });
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill('接口测试号');
  await form.getByLabel('AppID').fill(API_SIM.oa.appid);
  await form.getByLabel('AppSecret').fill(API_SIM.oa.secret);
  await form.getByLabel('API 地址').fill(API_SIM.url);
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(page.getByRole('rowheader', { name: '接口测试号' })).toBeVisible();
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
    page.getByLabel('当前账号').selectOption({ label: '接口测试号' }),
  ]);
  await syncFollowers(page);
  await page.goto('/followers?subscribed=yes');
  await waitForHydration(page);
  const openid = (await page.getByRole('checkbox', { name: /^选择 o/ }).first().getAttribute('value'))!;
  await createOrderPreset(page, '接口发货通知');

  // The key: created for that preset only, shown once.
  await page.goto('/settings');
  await waitForHydration(page);
  const keys = page.getByRole('region', { name: '发送接口密钥' });
  await keys.getByLabel('名称').fill('订单系统');
  await keys.getByLabel('可用预设').selectOption({ label: '接口发货通知' });
  await keys.getByRole('button', { name: '创建密钥' }).click();
  const shown = keys.getByLabel('新的发送接口密钥');
  await expect(shown).toHaveText(/^wxs_[0-9a-f]{64}$/);
  const key = (await shown.textContent())!;
  await expect(keys.getByRole('rowheader', { name: '订单系统' })).toBeVisible();
  await expect(keys.getByRole('row', { name: /订单系统/ })).toContainText('接口发货通知');

  // Its status webhook: the signing secret shows once. Nothing listens there, so its
  // deliveries wait for a retry — and sending goes on regardless.
  await keys.getByLabel('密钥', { exact: true }).selectOption({ label: '订单系统' });
  await keys.getByLabel('回调地址').fill('http://127.0.0.1:9/wxpush-hook');
  await keys.getByRole('button', { name: '保存回调地址' }).click();
  await expect(keys.getByLabel('回调签名密钥')).toHaveText(/^whsec_[0-9a-f]{48}$/);
  await expect(keys.getByRole('row', { name: /订单系统/ })).toContainText('http://127.0.0.1:9/wxpush-hook');

  // A business system sends one person's message with the order's own number.
  const send = () =>
    request.post('/api/v1/messages', {
      headers: { Authorization: `Bearer ${key}` },
      data: {
        to: { oa_openid: openid },
        preset_name: '接口发货通知',
        values: { character_string2: 'A1023' },
        idempotency_key: 'order-A1023-shipped',
      },
    });
  const accepted = await send();
  expect(accepted.status()).toBe(202);
  const { id } = await accepted.json();
  await expect
    .poll(async () => {
      const r = await request.get(`/api/v1/messages/${id}`, { headers: { Authorization: `Bearer ${key}` } });
      return (await r.json()).state;
    }, { timeout: 20_000 })
    .toBe('sent');

  // 接口消息 lists it as sent.
  await page.getByRole('link', { name: '接口消息' }).click();
  await expect(page.getByRole('heading', { level: 1, name: '接口消息' })).toBeVisible();
  const row = page.getByRole('row', { name: new RegExp(`^${id} `) });
  await expect(row).toContainText(openid);
  await expect(row).toContainText('已发送');
  await expect(row).toContainText('订单系统');
  await expect(page.getByRole('img', { name: /最近 24 小时共 1 条接口消息/ })).toBeVisible();

  // Its page: the message as WeChat got it, and the webhook's delivery of its state.
  await row.getByRole('link', { name: id }).click();
  await expect(page.getByRole('heading', { level: 1, name: `接口消息 ${id}` })).toBeVisible();
  const sentAs = page.getByRole('region', { name: '发给微信的消息' });
  await expect(sentAs).toContainText('"A1023"');
  await expect(sentAs).toContainText(`"touser": "${openid}"`);
  const hook = page.getByRole('region', { name: '状态回调' });
  await expect
    .poll(async () => {
      await page.reload();
      return hook.getByRole('rowheader', { name: 'message.sent' }).count();
    }, { timeout: 20_000 })
    .toBe(1);
  await expect(hook.getByRole('row', { name: /message\.sent/ })).toContainText('待投递');

  // Filters: by the person, then by a state it is not in.
  await page.getByRole('link', { name: '← 接口消息' }).click();
  await page.getByLabel('收件人').fill(openid);
  await page.getByRole('button', { name: '筛选' }).click();
  await expect(page).toHaveURL(new RegExp(`person=${openid}`));
  await expect(page.getByRole('row', { name: new RegExp(`^${id} `) })).toBeVisible();
  await page.getByLabel('状态', { exact: true }).selectOption({ label: '失败' });
  await page.getByRole('button', { name: '筛选' }).click();
  await expect(page).toHaveURL(/state=failed/);
  await expect(page.getByText('没有接口消息')).toBeVisible();

  // Revoked: the next request is refused.
  await page.goto('/settings');
  await waitForHydration(page);
  await page.getByRole('button', { name: '吊销密钥 订单系统' }).click();
  await expect(page.getByRole('region', { name: '发送接口密钥' }).getByRole('row', { name: /订单系统/ })).toContainText('已吊销');
  const refused = await send();
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error.code).toBe('key_revoked');
});
