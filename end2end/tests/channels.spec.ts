// Reaching matched users through the Mini Program: two people who unfollowed the Official
// Account but use its Mini Program; one accepts the subscribe popup (WeChat pushes the event to
// our callback and the credit shows on the dashboard), the other does not. A best-available job
// sends the one a subscribe message and reports the other as unreachable, with the reason.
import { test, expect, ADMIN, CH_SIM, PORT, login, waitForHydration } from './fixtures';
import type { APIRequestContext } from '@playwright/test';

const MP_TOKEN = 'mpchanneltoken1';

type MpUser = { index: number; openid: string; unionid: string | null; follower_openid: string | null; following: boolean };

async function matchedUsers(request: APIRequestContext): Promise<MpUser[]> {
  const res = await request.get(`${CH_SIM.url}/sim/mp/users?offset=0&limit=100`);
  const users: MpUser[] = (await res.json()).users;
  return users.filter((u) => u.follower_openid && u.following);
}

test('best channel: a matched user who unfollowed but subscribed gets an MP subscribe message; one with neither is unreachable', async ({ page, request }) => {
  test.setTimeout(120_000);
  const [withCredit, withNothing] = await matchedUsers(request);
  expect(withCredit && withNothing).toBeTruthy();

  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();

  // The Official Account and its Mini Program, whose server URL WeChat pushes events to.
  await page.goto('/settings');
  await waitForHydration(page);
  const accounts = page.getByRole('region', { name: '微信账号' });
  const form = page.getByRole('region', { name: '添加账号' });
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill('渠道测试号');
  await form.getByLabel('AppID').fill(CH_SIM.oa.appid);
  await form.getByLabel('AppSecret').fill(CH_SIM.oa.secret);
  await form.getByLabel('API 地址').fill(CH_SIM.url);
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(accounts.getByRole('rowheader', { name: '渠道测试号' })).toBeVisible();
  await form.getByLabel('类型').selectOption({ label: '小程序' });
  await form.getByLabel('名称').fill('渠道小程序');
  await form.getByLabel('AppID').fill(CH_SIM.mp.appid);
  await form.getByLabel('AppSecret').fill(CH_SIM.mp.secret);
  await form.getByLabel('令牌 (Token)').fill(MP_TOKEN);
  await form.getByLabel('API 地址').fill(CH_SIM.url);
  await form.getByLabel('关联账号').selectOption({ label: `渠道测试号 (${CH_SIM.oa.appid})` });
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(accounts.getByRole('rowheader', { name: '渠道小程序' })).toBeVisible();
  const cb = await request.post(`${CH_SIM.url}/sim/mp/callback`, {
    data: { url: `http://127.0.0.1:${PORT}/wechat/callback/${CH_SIM.mp.appid}`, token: MP_TOKEN, mode: 'plain' },
  });
  expect(cb.ok()).toBe(true);
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
    page.getByLabel('当前账号').selectOption({ label: '渠道测试号' }),
  ]);

  // The Mini Program backend logs both users in through wxpush's API, with a key an admin
  // creates on the settings page (shown once).
  await page.reload();
  await waitForHydration(page);
  const mpTools = page.getByRole('region', { name: /渠道小程序 · 小程序后端接口/ });
  await mpTools.getByRole('button', { name: '创建密钥' }).click();
  const shown = mpTools.getByRole('status');
  await expect(shown).toContainText('只显示一次');
  const key = (await shown.textContent())!.match(/wxp_[A-Za-z0-9_-]+/)![0];
  for (const user of [withCredit, withNothing]) {
    const { code } = await (await request.post(`${CH_SIM.url}/sim/mp/code`, { data: { openid: user.openid } })).json();
    const login = await request.post(`/api/mp/${CH_SIM.mp.appid}/login`, {
      headers: { Authorization: `Bearer ${key}` },
      data: { code },
    });
    expect(login.ok()).toBe(true);
  }

  // The followers as synced; then both unfollow the Official Account and the next sync notices.
  const sync = async () => {
    await page.goto('/followers');
    await waitForHydration(page);
    await page.getByRole('button', { name: '同步粉丝' }).click();
    await expect(page.getByRole('progressbar', { name: '同步进度' })).toHaveAttribute('value', '100', { timeout: 60_000 });
  };
  await sync();
  for (const user of [withCredit, withNothing]) {
    await request.post(`${CH_SIM.url}/sim/followers/unsubscribe`, { data: { openid: user.follower_openid, push_event: false } });
  }
  await sync();

  // An OA preset and a subscribe preset.
  await page.goto('/templates');
  await waitForHydration(page);
  const oaSection = page.getByRole('region', { name: '公众号模板消息' });
  await oaSection.getByRole('button', { name: '同步模板消息' }).click();
  await expect(oaSection.getByRole('status')).toContainText('同步完成');
  await oaSection.getByRole('article', { name: '订单状态通知' }).getByRole('link', { name: '用此模板新建预设' }).click();
  await waitForHydration(page);
  await page.getByLabel('预设名称').fill('发货提醒');
  await page.getByLabel('商品名称', { exact: true }).fill('无线蓝牙耳机');
  await page.getByLabel('订单编号', { exact: true }).fill('20231018123456');
  await page.getByLabel('下单时间', { exact: true }).fill('2023-10-18 14:30');
  await page.getByLabel('订单金额', { exact: true }).fill('¥199.00');
  await page.getByLabel('订单状态', { exact: true }).fill('已发货');
  await page.getByRole('button', { name: '保存预设' }).click();
  await expect(page).toHaveURL(/\/templates\/presets\/\d+$/);

  await page.goto('/templates');
  await waitForHydration(page);
  const mpSection = page.getByRole('region', { name: /^小程序订阅消息模板/ });
  await mpSection.getByRole('button', { name: '同步订阅模板' }).click();
  await expect(mpSection.getByRole('status')).toContainText('同步完成');
  await mpSection.getByRole('article', { name: '订单发货通知' }).getByRole('link', { name: '用此模板新建预设' }).click();
  await waitForHydration(page);
  await page.getByLabel('预设名称').fill('小程序发货提醒');
  await page.getByLabel('订单编号', { exact: true }).fill('20231018123456');
  await page.getByLabel('商品名称', { exact: true }).fill('无线蓝牙耳机');
  await page.getByLabel('发货时间', { exact: true }).fill('2023年10月18日');
  await page.getByLabel('快递公司', { exact: true }).fill('顺丰速运');
  await page.getByLabel('快递单号', { exact: true }).fill('SF1234567890');
  await page.getByLabel('跳转页面').fill('pages/order/detail?id=7');
  await page.getByRole('button', { name: '保存预设' }).click();
  await expect(page).toHaveURL(/\/templates\/presets\/\d+$/);

  // One of them accepts the subscribe popup in the Mini Program: WeChat tells our callback.
  const templates = await (await request.get(`${CH_SIM.url}/sim/templates`)).json();
  const templateId: string = templates.mp.find((t: { title: string }) => t.title === '订单发货通知').priTmplId;
  const popup = await request.post(`${CH_SIM.url}/sim/mp/popup`, {
    data: { openid: withCredit.openid, template_id: templateId, status: 'accept' },
  });
  expect(popup.ok()).toBe(true);
  await page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: '仪表盘' }).click();
  await waitForHydration(page);
  const credits = page.getByRole('region', { name: '订阅消息额度' });
  await expect(credits.getByRole('row', { name: /订单发货通知/ })).toContainText('1', { timeout: 15_000 });

  // A best-available job to both of them, by their OA openids.
  await page.goto('/jobs/new');
  await waitForHydration(page);
  await page.getByRole('radio', { name: /^最佳渠道/ }).check();
  await expect(page.getByLabel('订阅消息预设')).toHaveValue(/\d+/);
  await page.getByRole('radio', { name: '粘贴或上传 openid 列表' }).check();
  await page.getByLabel('openid 列表（每行一个，可带表头）').fill(`${withCredit.follower_openid}\n${withNothing.follower_openid}\n`);
  await page.getByRole('button', { name: '检查收件人' }).click();
  const review = page.getByRole('region', { name: '3. 确认' });
  await expect(review.getByRole('status')).toHaveText('将发送给 1 人');
  const byChannel = review.getByRole('list', { name: '按渠道' });
  await expect(byChannel).toContainText('公众号模板消息：0 人');
  await expect(byChannel).toContainText('小程序订阅消息：1 人');
  await expect(review.getByText('无法触达：')).toBeVisible();
  await expect(review.getByRole('list', { name: '跳过的原因' })).toHaveText('小程序用户未订阅该模板（没有订阅额度）: 1');
  await expect(review.getByRole('article', { name: '服务通知预览' })).toContainText('顺丰速运');
  await review.getByLabel('任务名称').fill('小程序触达');
  await review.getByRole('button', { name: '创建并开始发送' }).click();

  // The job: one subscribe message sent, the other person listed as unreachable.
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await waitForHydration(page);
  await expect(page.getByRole('progressbar', { name: '发送进度' })).toHaveAttribute('value', '100', { timeout: 30_000 });
  const progress = page.getByRole('region', { name: '进度' });
  await expect(progress.getByRole('status')).toHaveText('已完成');
  await expect(progress.getByRole('table', { name: '按渠道' }).getByRole('row', { name: /小程序订阅消息/ })).toHaveText(/小程序订阅消息\s*1\s*1\s*0/);
  const receipts = page.getByRole('region', { name: '送达回执' });
  await expect(receipts.getByRole('definition').nth(0)).toHaveText('1', { timeout: 15_000 });
  const table = page.getByRole('region', { name: '收件人' });
  await expect(table.getByRole('row', { name: new RegExp(withCredit.openid) })).toContainText('小程序订阅消息');
  await expect(table.getByRole('row', { name: new RegExp(withNothing.openid) })).toContainText('没有订阅额度');

  // The simulator: exactly one subscribe message, to the right Mini Program openid.
  const summary = await (await request.get(`${CH_SIM.url}/sim/ledger/summary`)).json();
  expect(summary.subscribe_sends).toBe(1);
  expect(summary.template_sends).toBe(0);
  const sent = (await (await request.get(`${CH_SIM.url}/sim/messages?openid=${withCredit.openid}`)).json()).messages;
  expect(sent).toHaveLength(1);
  expect(sent[0].template_id).toBe(templateId);
  expect(sent[0].payload.page).toBe('pages/order/detail?id=7');
  expect(sent[0].payload.data.thing4).toEqual({ value: '顺丰速运' });
  const none = (await (await request.get(`${CH_SIM.url}/sim/messages?openid=${withNothing.openid}`)).json()).messages;
  expect(none).toHaveLength(0);
});
