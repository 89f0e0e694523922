// A subscribe-message preset for the linked Mini Program: its templates synced from the
// simulator, strict errors as you type (a 21-character thing, a one-digit hour, a leading /),
// the 服务通知 card as the preview, saved, and a test send that gets 43101 until the user
// subscribes, then reaches the simulator with the exact subscribe/send body.
import { test, expect, ADMIN, TPL_SIM, login, waitForHydration } from './fixtures';
import type { Page } from '@playwright/test';

/** The simulator's OA and its linked MP, added unless an earlier spec already did. */
async function ensureAccounts(page: Page) {
  await page.goto('/settings');
  await waitForHydration(page);
  const accounts = page.getByRole('region', { name: '微信账号' });
  if ((await accounts.getByRole('rowheader', { name: '模板测试号' }).count()) > 0) {
    return;
  }
  const form = page.getByRole('region', { name: '添加账号' });
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill('模板测试号');
  await form.getByLabel('AppID').fill(TPL_SIM.oa.appid);
  await form.getByLabel('AppSecret').fill(TPL_SIM.oa.secret);
  await form.getByLabel('API 地址').fill(TPL_SIM.url);
  await form.getByRole('button', { name: '添加账号' }).click();
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

test('a subscribe-message preset: strict errors, the 服务通知 card, a test send to my Mini Program openid', async ({ page, request }) => {
  const users = await (await request.get(`${TPL_SIM.url}/sim/mp/users?offset=0&limit=1`)).json();
  const me: string = users.users[0].openid;

  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await ensureAccounts(page);
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
    page.getByLabel('当前账号').selectOption({ label: '模板测试号' }),
  ]);

  // Subscribe messages go to my openid in the Mini Program.
  await page.reload();
  await waitForHydration(page);
  const mine = page.getByRole('region', { name: '测试接收 openid' });
  await mine.getByRole('textbox', { name: /^模板小程序/ }).fill(me);
  await mine.getByRole('button', { name: '保存 openid：模板小程序' }).click();
  await expect(mine.getByRole('status')).toHaveText('已保存');

  await page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: '模板' }).click();
  await waitForHydration(page);
  const mpSection = page.getByRole('region', { name: /^小程序订阅消息模板/ });
  await mpSection.getByRole('button', { name: '同步订阅模板' }).click();
  await expect(mpSection.getByRole('status')).toContainText('同步完成');
  const card = mpSection.getByRole('article', { name: '预约服务提醒' });
  await expect(card.getByRole('row', { name: /到店时间 time6 时间/ })).toBeVisible();
  await card.getByRole('link', { name: '用此模板新建预设' }).click();

  await expect(page).toHaveURL(/\/templates\/presets\/new\?template=\d+/);
  await waitForHydration(page);
  await page.getByLabel('预设名称').fill('预约提醒');

  // No colors, no link: a subscribe message has neither.
  await expect(page.getByLabel('服务项目 颜色', { exact: true })).toHaveCount(0);
  await expect(page.getByLabel('跳转链接')).toHaveCount(0);

  const thing = page.getByLabel('服务项目', { exact: true });
  await thing.fill('一二三四五六七八九十一二三四五六七八九十一');
  await expect(thing).toHaveAttribute('aria-invalid', 'true');
  await expect(thing).toHaveAccessibleDescription('最多 20 个字符');
  await thing.fill('汽车保养');
  await expect(thing).toHaveAttribute('aria-invalid', 'false');

  const values: [string, string][] = [
    ['预约人数', '2'],
    ['预约日期', '2023年10月20日'],
    ['预约状态', '已确认'],
    ['预约单号', 'RSV20231018001'],
    ['订单金额', '¥368.00'],
    ['预约人', '张三'],
    ['座位区域', 'VIP'],
    ['会员等级', '★★'],
    ['联系电话', '0755-86013388'],
    ['车牌号码', '粤B12345'],
  ];
  for (const [label, value] of values) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  const time = page.getByLabel('到店时间', { exact: true });
  await time.fill('9:30');
  await expect(time).toHaveAttribute('aria-invalid', 'true');
  await expect(time).toHaveAccessibleDescription(/^24 小时制时间/);
  await time.fill('09:30');
  await expect(time).toHaveAttribute('aria-invalid', 'false');

  const target = page.getByLabel('跳转页面');
  await target.fill('/pages/order/detail');
  await expect(target).toHaveAccessibleDescription(/不以 \/ 开头/);
  await target.fill('pages/order/detail?id=42');
  await expect(target).toHaveAttribute('aria-invalid', 'false');
  await page.getByLabel('小程序版本').selectOption({ label: '体验版' });
  await page.getByLabel('语言').selectOption('zh_CN');

  // The 服务通知 card.
  const preview = page.getByRole('article', { name: '服务通知预览' });
  await expect(preview).toContainText('模板小程序');
  await expect(preview.getByRole('heading', { name: '预约服务提醒' })).toBeVisible();
  await expect(preview.getByText('汽车保养')).toBeVisible();
  await expect(preview.getByText('进入小程序查看')).toBeVisible();

  await page.getByRole('button', { name: '保存预设' }).click();
  await expect(page).toHaveURL(/\/templates\/presets\/\d+$/);
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: '编辑预设' })).toBeVisible();
  await expect(page.getByLabel('到店时间', { exact: true })).toHaveValue('09:30');

  // Not subscribed yet: WeChat's 43101, explained.
  const testSend = page.getByRole('region', { name: '发送测试' });
  await expect(testSend.getByText(me)).toBeVisible();
  await testSend.getByRole('button', { name: '发送测试' }).click();
  await expect(testSend.getByRole('alert')).toContainText('43101');

  // The user accepts the subscribe popup once: the next test arrives.
  const templateId: string = (await (await request.get(`${TPL_SIM.url}/sim/templates`)).json()).mp
    .find((t: { title: string }) => t.title === '预约服务提醒').priTmplId;
  const granted = await request.post(`${TPL_SIM.url}/sim/mp/credits`, {
    data: { openid: me, template_id: templateId, kind: 'one_time', count: 1 },
  });
  expect(granted.ok()).toBe(true);
  await testSend.getByRole('button', { name: '发送测试' }).click();
  await expect(testSend.getByRole('status')).toContainText('已发送');
  const sent = (await (await request.get(`${TPL_SIM.url}/sim/messages?openid=${me}`)).json()).messages;
  expect(sent).toHaveLength(1);
  expect(sent[0].payload).toEqual({
    touser: me,
    template_id: templateId,
    page: 'pages/order/detail?id=42',
    miniprogram_state: 'trial',
    lang: 'zh_CN',
    data: {
      thing1: { value: '汽车保养' },
      number2: { value: '2' },
      date3: { value: '2023年10月20日' },
      phrase4: { value: '已确认' },
      character_string5: { value: 'RSV20231018001' },
      time6: { value: '09:30' },
      amount7: { value: '¥368.00' },
      name8: { value: '张三' },
      letter9: { value: 'VIP' },
      symbol10: { value: '★★' },
      phone_number11: { value: '0755-86013388' },
      car_number12: { value: '粤B12345' },
    },
  });

  // The list tells the kinds apart.
  await page.getByRole('link', { name: '← 模板' }).click();
  await waitForHydration(page);
  const presets = page.getByRole('region', { name: '预设消息' });
  await expect(presets.getByRole('row', { name: /预约提醒 订阅消息 预约服务提醒 可发送/ })).toBeVisible();
});
