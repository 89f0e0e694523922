// Four eyes: an admin lowers the approval threshold; an operator's job above it waits, paused,
// without an approve button for them; a second person, an admin, approves it and it runs.
// (Named to run after auth.spec, which expects a console without accounts.)
import { test, expect, ADMIN, APPROVAL_SIM, OPERATOR, login, waitForHydration } from './fixtures';

test('a big job waits for a second admin, who approves it; then it runs', async ({ browser }) => {
  test.setTimeout(120_000);
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await login(admin, ADMIN);
  await expect(admin.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();

  // The account, its followers and a preset (admins manage those).
  await admin.goto('/settings');
  await waitForHydration(admin);
  const form = admin.getByRole('region', { name: '添加账号' });
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill('审批测试号');
  await form.getByLabel('AppID').fill(APPROVAL_SIM.oa.appid);
  await form.getByLabel('AppSecret').fill(APPROVAL_SIM.oa.secret);
  await form.getByLabel('API 地址').fill(APPROVAL_SIM.url);
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(admin.getByRole('rowheader', { name: '审批测试号' })).toBeVisible();
  await Promise.all([
    admin.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
    admin.getByLabel('当前账号').selectOption({ label: '审批测试号' }),
  ]);
  await admin.goto('/followers');
  await waitForHydration(admin);
  await admin.getByRole('button', { name: '同步粉丝' }).click();
  await expect(admin.getByRole('progressbar', { name: '同步进度' })).toHaveAttribute('value', '100', { timeout: 60_000 });
  await admin.goto('/templates');
  await waitForHydration(admin);
  const oaSection = admin.getByRole('region', { name: '公众号模板消息' });
  await oaSection.getByRole('button', { name: '同步模板消息' }).click();
  await expect(oaSection.getByRole('status')).toContainText('同步完成');
  await oaSection.getByRole('article', { name: '订单状态通知' }).getByRole('link', { name: '用此模板新建预设' }).click();
  await waitForHydration(admin);
  await admin.getByLabel('预设名称').fill('审批提醒');
  await admin.getByLabel('商品名称', { exact: true }).fill('无线蓝牙耳机');
  await admin.getByLabel('订单编号', { exact: true }).fill('20231018123456');
  await admin.getByLabel('下单时间', { exact: true }).fill('2023-10-18 14:30');
  await admin.getByLabel('订单金额', { exact: true }).fill('¥199.00');
  await admin.getByLabel('订单状态', { exact: true }).fill('已发货');
  await admin.getByRole('button', { name: '保存预设' }).click();
  await expect(admin).toHaveURL(/\/templates\/presets\/\d+$/);

  // Jobs to more than 5 people need a second admin.
  await admin.goto('/jobs');
  await waitForHydration(admin);
  const approval = admin.getByRole('region', { name: '发送审批' });
  await approval.getByLabel('审批阈值（收件人数）').fill('5');
  await approval.getByRole('button', { name: '保存' }).click();
  await expect(approval.getByRole('status')).toHaveText('已保存');
  await expect(approval).toContainText('收件人超过 5 人的任务需要另一位管理员批准');

  // The operator creates a job to everyone following: it waits.
  const operatorContext = await browser.newContext();
  const operator = await operatorContext.newPage();
  await login(operator, OPERATOR);
  await expect(operator.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  // The switcher only reacts once the dashboard has hydrated.
  await waitForHydration(operator);
  // The only account may already be the operator's current one.
  const switcher = operator.getByLabel('当前账号');
  const current = await switcher.evaluate((s: HTMLSelectElement) => s.selectedOptions[0]?.textContent?.trim());
  if (current !== '审批测试号') {
    await Promise.all([
      operator.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
      switcher.selectOption({ label: '审批测试号' }),
    ]);
  }
  await operator.goto('/jobs/new');
  await waitForHydration(operator);
  await operator.getByRole('radio', { name: '全部关注者' }).check();
  await operator.getByRole('button', { name: '检查收件人' }).click();
  const review = operator.getByRole('region', { name: '3. 确认' });
  await expect(review.getByRole('status')).toHaveText(/将发送给 \d+ 人/);
  await expect(review.getByRole('note')).toContainText('收件人超过 5 人：创建后任务会等待另一位管理员批准');
  await review.getByLabel('任务名称').fill('全员通知');
  await review.getByRole('button', { name: '创建并开始发送' }).click();
  await expect(operator).toHaveURL(/\/jobs\/\d+$/);
  await waitForHydration(operator);
  const jobUrl = new URL(operator.url()).pathname;
  const waiting = operator.getByRole('region', { name: '等待审批' });
  await expect(waiting).toContainText('需要另一位管理员');
  await expect(waiting.getByRole('button', { name: '批准并开始发送' })).toHaveCount(0);
  await expect(operator.getByRole('button', { name: '继续' })).toHaveCount(0);
  // The state says why it waits in words, and its creator may withdraw it.
  const state = operator.getByRole('status').filter({ hasText: '等待审批' }).first();
  await expect(state).toContainText('需要另一位管理员批准后开始发送');
  await expect(state).not.toContainText('微信拒绝');
  await expect(operator.getByRole('button', { name: '取消任务' })).toBeVisible();
  await expect(operator.getByRole('progressbar', { name: '发送进度' })).toHaveAttribute('value', '0');

  // The admin approves; the job runs to the end, and both see who approved it.
  await admin.goto(jobUrl);
  await waitForHydration(admin);
  await admin.getByRole('region', { name: '等待审批' }).getByRole('button', { name: '批准并开始发送' }).click();
  await expect(admin.getByRole('progressbar', { name: '发送进度' })).toHaveAttribute('value', '100', { timeout: 30_000 });
  await expect(admin.getByText('审批人：admin')).toBeVisible();
  await expect(operator.getByRole('progressbar', { name: '发送进度' })).toHaveAttribute('value', '100', { timeout: 30_000 });
  await expect(operator.getByRole('region', { name: '等待审批' })).toHaveCount(0);

  // Back to the default so other specs are not affected.
  await admin.goto('/jobs');
  await waitForHydration(admin);
  await admin.getByLabel('审批阈值（收件人数）').fill('10000');
  await admin.getByRole('region', { name: '发送审批' }).getByRole('button', { name: '保存' }).click();
  await expect(admin.getByRole('region', { name: '发送审批' }).getByRole('status')).toHaveText('已保存');
  await adminContext.close();
  await operatorContext.close();
});
