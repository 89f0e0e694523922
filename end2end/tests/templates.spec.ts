// Templates synced from the simulator, a preset built in the editor (colors, Mini Program page),
// a 21-character thing refused with the preview showing the cut, and a test send that reaches
// the simulator with the exact payload.
import { test, expect, ADMIN, TPL_SIM, login, waitForHydration } from './fixtures';
import type { Page } from '@playwright/test';

async function addAccounts(page: Page) {
  await page.goto('/settings');
  await waitForHydration(page);
  // subscribe_presets.spec.ts may have added them already (same simulator, same database).
  if ((await page.getByRole('region', { name: '微信账号' }).getByRole('rowheader', { name: '模板测试号' }).count()) > 0) {
    return;
  }
  const form = page.getByRole('region', { name: '添加账号' });
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill('模板测试号');
  await form.getByLabel('AppID').fill(TPL_SIM.oa.appid);
  await form.getByLabel('AppSecret').fill(TPL_SIM.oa.secret);
  await form.getByLabel('API 地址').fill(TPL_SIM.url);
  await form.getByRole('button', { name: '添加账号' }).click();
  const accounts = page.getByRole('region', { name: '微信账号' });
  await expect(accounts.getByRole('rowheader', { name: '模板测试号' })).toBeVisible();
  await form.getByLabel('类型').selectOption({ label: '小程序' });
  await form.getByLabel('名称').fill('模板小程序');
  await form.getByLabel('AppID').fill(TPL_SIM.mp.appid);
  await form.getByLabel('AppSecret').fill(TPL_SIM.mp.secret);
  await form.getByLabel('API 地址').fill(TPL_SIM.url);
  await form.getByLabel('关联账号').selectOption({ label: `模板测试号 (${TPL_SIM.oa.appid})` });
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(accounts.getByRole('rowheader', { name: '模板小程序' })).toBeVisible();
}

test('sync templates, build a preset with colors and a Mini Program page, preview it, send a test', async ({ page, request }) => {
  const followers = await (await request.get(`${TPL_SIM.url}/sim/followers?offset=0&limit=1`)).json();
  const me: string = followers.users[0].openid;
  expect(followers.users[0].subscribed).toBe(true);

  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await addAccounts(page);
  const switcher = page.getByLabel('当前账号');
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
    switcher.selectOption({ label: '模板测试号' }),
  ]);

  // Bind my own openid for test sends.
  await page.reload();
  await waitForHydration(page);
  const mine = page.getByRole('region', { name: '测试接收 openid' });
  await mine.getByRole('textbox', { name: /^模板测试号/ }).fill(me);
  await mine.getByRole('button', { name: '保存 openid：模板测试号' }).click();
  await expect(mine.getByRole('status')).toHaveText('已保存');

  // Sync the Official Account's templates.
  await page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: '模板' }).click();
  await waitForHydration(page);
  const oaSection = page.getByRole('region', { name: '公众号模板消息' });
  await expect(oaSection.getByText('尚未同步，或微信中还没有模板。')).toBeVisible();
  await oaSection.getByRole('button', { name: '同步模板消息' }).click();
  await expect(oaSection.getByRole('status')).toHaveText('同步完成：新增 6，更新 0，标记删除 0，未变 0。');
  const card = oaSection.getByRole('article', { name: '订单状态通知' });
  await expect(card.getByRole('row', { name: /商品名称 thing1 事物/ })).toBeVisible();
  await expect(card.getByRole('row', { name: /订单金额 amount4 金额/ })).toBeVisible();
  await card.getByRole('link', { name: '用此模板新建预设' }).click();

  // The editor: one row per keyword, checked as you type.
  await expect(page).toHaveURL(/\/templates\/presets\/new\?template=\d+/);
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: '新建预设' })).toBeVisible();
  await expect(page.getByLabel('模板', { exact: true })).toHaveValue(/\d+/);
  await page.getByLabel('预设名称').fill('发货通知');
  const thing = page.getByLabel('商品名称', { exact: true });
  const long = '一二三四五六七八九十一二三四五六七八九十一';
  await thing.fill(long);
  await expect(thing).toHaveAccessibleDescription('最多 20 个字符');
  await expect(thing).toHaveAttribute('aria-invalid', 'true');

  // The preview cuts at 20 characters, as WeChat does.
  const preview = page.getByRole('article', { name: '消息预览' });
  await expect(preview.getByRole('heading', { name: '订单状态通知' })).toBeVisible();
  await expect(preview.getByText(`${long.slice(0, 20)}…`)).toBeVisible();
  await expect(page.getByRole('list', { name: '微信不会显示' })).toContainText('超过 20 个字');

  // Cannot be saved.
  await page.getByRole('button', { name: '保存预设' }).click();
  // It names the fields, and the focus moves to the first of them.
  await expect(page.getByRole('alert').filter({ hasText: '无法保存' })).toHaveText(/^无法保存：有 4 处需要修改：商品名称、.+。$/);
  await expect(thing).toBeFocused();
  await expect(page).toHaveURL(/\/templates\/presets\/new/);

  // A valid message.
  await thing.fill('无线蓝牙耳机');
  await expect(thing).toHaveAttribute('aria-invalid', 'false');
  const orderNo = page.getByLabel('订单编号', { exact: true });
  await orderNo.fill('订单123');
  await expect(orderNo).toHaveAccessibleDescription('只能包含数字、字母和符号，不能有汉字');
  await orderNo.fill('20231018123456');
  const time = page.getByLabel('下单时间', { exact: true });
  await time.fill('明天下午');
  await expect(time).toHaveAccessibleDescription(/^24 小时制时间/);
  await time.fill('2023年10月18日 14:30');
  const amount = page.getByLabel('订单金额', { exact: true });
  await amount.fill('199元');
  await expect(amount).toHaveAccessibleDescription('以货币符号开头、最多 12 位数字，如 ¥199.00');
  await amount.fill('¥199.00');
  await page.getByLabel('订单状态', { exact: true }).fill('已发货');
  const color = page.getByLabel('商品名称 颜色', { exact: true });
  await color.fill('#ff000');
  await expect(color).toHaveAccessibleDescription('颜色格式为 #RRGGBB');
  await color.fill('#ff0000');
  await page.getByLabel('跳转链接').fill('https://example.com/orders/42');
  await page.getByLabel('小程序', { exact: true }).selectOption(TPL_SIM.mp.appid);
  const pagepath = page.getByLabel('小程序页面路径');
  await pagepath.fill('/pages/order/detail');
  await expect(pagepath).toHaveAccessibleDescription(/不以 \/ 开头/);
  await pagepath.fill('pages/order/detail?id=42');
  for (const field of [thing, orderNo, time, amount, color, pagepath]) {
    await expect(field).toHaveAttribute('aria-invalid', 'false');
  }

  // Today's look: no colors, the Mini Program row; the legacy look shows the color.
  await expect(preview.getByText('无线蓝牙耳机')).toBeVisible();
  await expect(preview.getByText('小程序')).toBeVisible();
  await expect(preview.getByText('无线蓝牙耳机')).not.toHaveCSS('color', 'rgb(255, 0, 0)');
  await page.getByRole('group', { name: '预览样式' }).getByRole('button', { name: '旧版样式' }).click();
  await expect(preview.getByText('无线蓝牙耳机')).toHaveCSS('color', 'rgb(255, 0, 0)');

  await page.getByRole('button', { name: '保存预设' }).click();
  await expect(page).toHaveURL(/\/templates\/presets\/\d+$/);
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: '编辑预设' })).toBeVisible();
  await expect(page.getByLabel('商品名称', { exact: true })).toHaveValue('无线蓝牙耳机');

  // Send a test to myself: the simulator receives exactly this payload.
  const testSend = page.getByRole('region', { name: '发送测试' });
  await expect(testSend.getByText(me)).toBeVisible();
  await testSend.getByRole('button', { name: '发送测试' }).click();
  await expect(testSend.getByRole('status')).toContainText('已发送，msgid');
  const msgid = (await testSend.getByRole('status').textContent())!.replace(/\D/g, '');
  const raw = await (await request.get(`${TPL_SIM.url}/sim/messages?openid=${me}`)).text();
  const sent = JSON.parse(raw).messages;
  expect(sent).toHaveLength(1);
  // msgids exceed 2^53: compare the JSON text, not a JavaScript number.
  expect(raw).toContain(`"msgid":${msgid}`);
  const templates = (await (await request.get(`${TPL_SIM.url}/sim/templates`)).json()).oa;
  const order = templates.find((t: { title: string }) => t.title === '订单状态通知');
  expect(sent[0].payload).toEqual({
    touser: me,
    template_id: order.template_id,
    url: 'https://example.com/orders/42',
    miniprogram: { appid: TPL_SIM.mp.appid, pagepath: 'pages/order/detail?id=42' },
    data: {
      thing1: { value: '无线蓝牙耳机', color: '#FF0000' },
      character_string2: { value: '20231018123456' },
      time3: { value: '2023年10月18日 14:30' },
      amount4: { value: '¥199.00' },
      const5: { value: '已发货' },
    },
  });

  // The list shows it ready; duplicate and delete the copy.
  await page.getByRole('link', { name: '← 模板' }).click();
  await waitForHydration(page);
  const presets = page.getByRole('region', { name: '预设消息' });
  await expect(presets.getByRole('row', { name: /发货通知 模板消息 订单状态通知 可发送/ })).toBeVisible();
  await presets.getByRole('button', { name: '复制 发货通知' }).click();
  await expect(presets.getByRole('link', { name: '发货通知 副本', exact: true })).toBeVisible();
  page.once('dialog', (d) => d.accept());
  await presets.getByRole('button', { name: '删除 发货通知 副本' }).click();
  await expect(presets.getByRole('link', { name: '发货通知 副本', exact: true })).toHaveCount(0);
  await expect(presets.getByRole('link', { name: '发货通知', exact: true })).toBeVisible();
});
