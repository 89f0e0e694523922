// A scheduled job: created to start at the next minute (console time zone Asia/Shanghai), it
// shows as 已计划 with its start time, its name can change until then, and it starts and
// finishes by itself.
import { test, expect, ADMIN, SCHED_SIM, addSimAccount, createOrderPreset, login, syncFollowers, waitForHydration } from './fixtures';

test('a job scheduled a minute ahead waits as scheduled, then starts by itself', async ({ page }) => {
  test.setTimeout(180_000);
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await addSimAccount(page, '定时测试号', SCHED_SIM);
  await syncFollowers(page);
  await createOrderPreset(page, '定时提醒');

  await page.goto('/jobs/new');
  await waitForHydration(page);
  await page.getByRole('radio', { name: '全部关注者' }).check();
  await page.getByRole('button', { name: '检查收件人' }).click();
  const review = page.getByRole('region', { name: '3. 确认' });
  await expect(review.getByRole('status').first()).toHaveText('将发送给 8 人');
  // The next whole minute at least 20 s away, as the console (Asia/Shanghai) writes it.
  const at = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000);
  const local = at.toLocaleString('sv-SE', { timeZone: 'Asia/Shanghai' }).slice(0, 16).replace(' ', 'T');
  await review.getByLabel('定时开始').fill(local);
  await review.getByLabel('任务名称').fill('明早提醒');
  await review.getByRole('button', { name: '创建定时任务' }).click();

  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await waitForHydration(page);
  const progress = page.getByRole('region', { name: '进度' });
  await expect(progress.getByRole('status')).toContainText('已计划');
  const plan = page.getByRole('region', { name: '计划' });
  await expect(plan).toContainText(`将于 ${local.replace('T', ' ')}（Asia/Shanghai）自动开始`);
  await plan.getByLabel('任务名称').fill('改名后的定时提醒');
  await plan.getByRole('button', { name: '保存计划' }).click();
  await expect(page.getByRole('heading', { level: 1, name: '改名后的定时提醒' })).toBeVisible();

  // Its time comes: it starts and finishes by itself, and the plan card goes.
  await expect(page.getByRole('progressbar', { name: '发送进度' })).toHaveAttribute('value', '100', { timeout: 120_000 });
  await expect(progress.getByRole('status')).toHaveText('已完成');
  await expect(plan).toHaveCount(0);
});
