// A weekly recurring send (定时任务): saved from the review of a new job for everyone following,
// it shows its rhythm in words and its next run in the console time zone (Asia/Shanghai), before
// and after saving, with the runs that fall in quiet hours pointed out (as is a one-off start
// time inside them); paused it says so, resumed it runs again, and deleted it leaves the list.
import { test, expect, ADMIN, RECUR_SIM, addSimAccount, createOrderPreset, login, syncFollowers, waitForHydration } from './fixtures';

const HOUR = 3_600_000;
const SHANGHAI = 8 * HOUR;

/** The next Monday or Thursday at `hour`:30 in Asia/Shanghai, as the console writes it. */
function nextRun(hour: number): string {
  const now = Date.now();
  const today = new Date(now + SHANGHAI);
  for (let d = 0; d <= 7; d++) {
    const day = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + d));
    const at = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hour, 30) - SHANGHAI;
    if ([1, 4].includes(day.getUTCDay()) && at > now) {
      return new Date(at + SHANGHAI).toISOString().slice(0, 16).replace('T', ' ');
    }
  }
  throw new Error('no run within a week');
}

test('a weekly schedule shows its next run', async ({ page }) => {
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await addSimAccount(page, '周报测试号', RECUR_SIM);
  await syncFollowers(page);
  await createOrderPreset(page, '周一提醒');
  // Twelve hours from now in Shanghai: far from any run the server could reach meanwhile.
  const hour = (new Date(Date.now() + SHANGHAI).getUTCHours() + 12) % 24;
  const hh = (h: number) => String(h % 24).padStart(2, '0');
  const time = `${hh(hour)}:30`;

  // Quiet hours around that time (now is outside them, so nothing here is held back).
  await page.goto('/settings');
  await waitForHydration(page);
  const rules = page.getByRole('region', { name: '免打扰时段与每日上限' });
  await rules.getByRole('checkbox', { name: /开启免打扰时段/ }).check();
  await rules.getByLabel('免打扰开始（HH:MM）').fill(`${hh(hour)}:00`);
  await rules.getByLabel('免打扰结束（HH:MM，可跨午夜）').fill(`${hh(hour + 1)}:00`);
  await rules.getByRole('button', { name: '保存免打扰与上限' }).click();
  await expect(rules.getByRole('status').filter({ hasText: '已保存' })).toBeVisible();

  await page.goto('/jobs/new');
  await waitForHydration(page);
  await page.getByRole('radio', { name: '全部关注者' }).check();
  await page.getByRole('button', { name: '检查收件人' }).click();
  const review = page.getByRole('region', { name: '3. 确认' });
  await expect(review.getByRole('status').first()).toHaveText('将发送给 6 人');
  // A one-off start inside quiet hours is pointed out.
  const expected = nextRun(hour);
  await review.getByLabel('定时开始').fill(expected.replace(' ', 'T'));
  await expect(review.getByRole('note').filter({ hasText: '开始时间在免打扰时段' })).toContainText(`会等到 ${hh(hour + 1)}:00 才发送`);
  await review.getByLabel('定时开始').fill('');
  await review.getByText('或：定期重复发送（定时任务）').click();
  await review.getByLabel('名称（定时任务）').fill('周一周四提醒');
  await review.getByRole('radio', { name: '每周' }).check();
  await expect(review.getByRole('checkbox', { name: '周一' })).toBeChecked();
  await review.getByRole('checkbox', { name: '周四' }).check();
  await review.getByLabel('时间', { exact: true }).fill(time);
  await expect(review.getByText(`每周一、周四 ${time}`)).toBeVisible();
  const runs = review.getByRole('list', { name: '接下来的运行时间' }).getByRole('listitem');
  await expect(runs).toHaveCount(5);
  await expect(runs.first()).toHaveText(`${expected} · 免打扰时段内，任务会等到时段结束`);
  await review.getByRole('button', { name: '保存为定时任务' }).click();

  await expect(page).toHaveURL(/\/schedules\/\d+$/);
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: '周一周四提醒' })).toBeVisible();
  const plan = page.getByRole('region', { name: '计划' });
  await expect(plan).toContainText(`每周一、周四 ${time}`);
  await expect(plan).toContainText(`${expected}（Asia/Shanghai）`);
  await expect(plan).toContainText('全部关注者');
  await expect(page.getByRole('region', { name: '运行记录' })).toContainText('还没有运行过');

  await plan.getByRole('button', { name: '暂停' }).click();
  await expect(plan.getByRole('status')).toHaveText('已暂停');
  await plan.getByRole('button', { name: '恢复' }).click();
  await expect(plan.getByRole('status')).toHaveText('运行中');

  await page.goto('/schedules');
  await waitForHydration(page);
  const row = page.getByRole('row', { name: /周一周四提醒/ });
  await expect(row).toContainText(expected);
  await expect(row).toContainText('全部关注者');
  await expect(row).toContainText('运行中');

  await row.getByRole('link', { name: '周一周四提醒' }).click();
  await waitForHydration(page);
  await plan.getByRole('button', { name: '删除' }).click();
  await plan.getByRole('button', { name: /确认删除/ }).click();
  await expect(page).toHaveURL(/\/schedules$/);
  await expect(page.getByText('还没有定时任务')).toBeVisible();
});
