// A send job from the UI: select followers, review, create, watch the bar reach 100%, and see
// the errcode breakdown and the delivery receipts the simulator pushes to the callback URL.
import { test, expect, ADMIN, JOB_SIM, PORT, createOrderPreset, login, syncFollowers, waitForHydration } from './fixtures';

const TOKEN = 'jobtoken123';

test('select followers, create a job, watch it finish, see errors and receipts', async ({ page, request }) => {
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();

  // The account, with a callback token; the simulator pushes events to our callback URL.
  await page.goto('/settings');
  await waitForHydration(page);
  const form = page.getByRole('region', { name: '添加账号' });
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill('任务测试号');
  await form.getByLabel('AppID').fill(JOB_SIM.oa.appid);
  await form.getByLabel('AppSecret').fill(JOB_SIM.oa.secret);
  await form.getByLabel('令牌 (Token)').fill(TOKEN);
  await form.getByLabel('API 地址').fill(JOB_SIM.url);
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(page.getByRole('rowheader', { name: '任务测试号' })).toBeVisible();
  const cb = await request.post(`${JOB_SIM.url}/sim/accounts/oa/callback`, {
    data: { url: `http://127.0.0.1:${PORT}/wechat/callback/${JOB_SIM.oa.appid}`, token: TOKEN, mode: 'plain' },
  });
  expect(cb.ok()).toBe(true);
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
    page.getByLabel('当前账号').selectOption({ label: '任务测试号' }),
  ]);

  // Followers and templates from WeChat, and a preset to send.
  await syncFollowers(page);
  await createOrderPreset(page, '发货提醒');

  // Pick four followers; in WeChat one has since unfollowed and one blocks the account.
  await page.goto('/followers?subscribed=yes');
  await waitForHydration(page);
  const boxes = page.getByRole('checkbox', { name: /^选择 o/ });
  const picked: string[] = [];
  for (let i = 0; i < 4; i++) {
    picked.push((await boxes.nth(i).getAttribute('value'))!);
    await boxes.nth(i).check();
  }
  await request.post(`${JOB_SIM.url}/sim/followers/unsubscribe`, { data: { openid: picked[2], push_event: false } });
  await request.post(`${JOB_SIM.url}/sim/followers/block`, { data: { openid: picked[3], blocked: true } });
  await page.getByRole('button', { name: '发送给所选' }).click();
  await expect(page).toHaveURL(/\/jobs\/new\?/);
  await waitForHydration(page);

  // Review, then create.
  await expect(page.getByLabel('预设')).toHaveValue(/\d+/);
  await expect(page.getByRole('radio', { name: '在粉丝页选择的 4 位粉丝' })).toBeChecked();
  await page.getByRole('button', { name: '检查收件人' }).click();
  const review = page.getByRole('region', { name: '3. 确认' });
  await expect(review.getByRole('status')).toHaveText('将发送给 4 人');
  await expect(review.getByText(/今日已发送 0 \/ 100000 条/)).toBeVisible();
  await expect(review.getByRole('article', { name: '消息预览' })).toContainText('无线蓝牙耳机');
  await review.getByLabel('任务名称').fill('双十一发货提醒');
  await review.getByRole('button', { name: '创建并开始发送' }).click();

  // The job page: the bar reaches 100%, with the breakdown and receipts.
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: '双十一发货提醒' })).toBeVisible();
  const bar = page.getByRole('progressbar', { name: '发送进度' });
  await expect(bar).toHaveAttribute('value', '100', { timeout: 30_000 });
  const progress = page.getByRole('region', { name: '进度' });
  await expect(progress.getByRole('status')).toHaveText('已完成');
  await expect(progress.getByRole('definition').nth(0)).toHaveText('3');
  await expect(progress.getByRole('definition').nth(1)).toHaveText('1');
  const errors = page.getByRole('region', { name: '失败原因' });
  await expect(errors.getByRole('row', { name: /43004 1/ })).toContainText('未关注');
  const receipts = page.getByRole('region', { name: '送达回执' });
  await expect(receipts.getByRole('definition').nth(0)).toHaveText('2', { timeout: 15_000 });
  await expect(receipts.getByRole('definition').nth(1)).toHaveText('1');

  // The per-recipient table filters on the server.
  const table = page.getByRole('region', { name: '收件人' });
  await table.getByLabel('状态').selectOption({ label: '失败' });
  await table.getByRole('button', { name: '筛选' }).click();
  await expect(table.getByRole('row')).toHaveCount(2);
  await expect(table.getByRole('row').nth(1)).toContainText(picked[2]);

  // The simulator got exactly one message per deliverable recipient.
  const summary = await (await request.get(`${JOB_SIM.url}/sim/ledger/summary`)).json();
  expect(summary.duplicates_delivered).toBe(0);
  expect(summary.template_sends).toBe(3);

  // The failed recipient becomes a new job of its own, after the same review as a spreadsheet.
  await page.getByRole('button', { name: '以失败和未知新建任务' }).click();
  await expect(page).toHaveURL(/\/jobs\/new\?sheet=\d+&preset=\d+$/);
  await waitForHydration(page);
  await expect(page.getByRole('radio', { name: /上传表格/ })).toBeChecked();
  await expect(page.getByRole('status').filter({ hasText: '已上传' })).toContainText('双十一发货提醒 · 失败和未知');
  await page.getByRole('button', { name: '检查收件人' }).click();
  const again = page.getByRole('region', { name: '3. 确认' });
  await expect(again.getByRole('status').first()).toHaveText('1 行中将发送给 1 人');
  await expect(again.getByRole('article', { name: /的消息/ })).toContainText('无线蓝牙耳机');
  await again.getByLabel('任务名称').fill('双十一补发');
  await again.getByRole('button', { name: '创建并开始发送' }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: '双十一补发' })).toBeVisible();
  await expect(page.getByRole('region', { name: '收件人' }).getByRole('row', { name: new RegExp(picked[2]) })).toBeVisible();
  await expect(page.getByRole('progressbar', { name: '发送进度' })).toHaveAttribute('value', '100', { timeout: 30_000 });

  // The job list shows both.
  await page.getByRole('link', { name: '← 发送任务' }).click();
  await expect(page.getByRole('row', { name: /双十一发货提醒 发货提醒 已完成 4/ })).toBeVisible();
  await expect(page.getByRole('row', { name: /双十一补发 发货提醒 已完成 1/ })).toBeVisible();
});
