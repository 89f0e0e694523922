// Every refusal says what it means, in both languages, with the rule the engine enforces: an
// approval threshold out of range, a job name over the limit, a job nobody would receive, an
// admin approving their own job, and resuming a job someone else has just cancelled.
// (Runs after jobs_approval.spec, whose account, followers and preset it uses.)
import { test, expect, ADMIN, login, waitForHydration } from './fixtures';
import type { Page } from '@playwright/test';

/** Switches the interface language with the header's switch and waits for the page to follow. */
async function switchTo(page: Page, to: 'English' | '中文') {
  await page.getByRole('button', { name: to }).click();
  await expect(page.getByRole('button', { name: to === 'English' ? '中文' : 'English' })).toBeVisible();
  await waitForHydration(page);
}

async function useApprovalAccount(page: Page) {
  const switcher = page.getByLabel('当前账号');
  const current = await switcher.evaluate((s: HTMLSelectElement) => s.selectedOptions[0]?.textContent?.trim());
  if (current !== '审批测试号') {
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
      switcher.selectOption({ label: '审批测试号' }),
    ]);
  }
}

/** Opens the new-job page, picks every follower and checks the recipients. */
async function reviewJobToEveryone(page: Page) {
  await page.goto('/jobs/new');
  await waitForHydration(page);
  await page.getByRole('radio', { name: '全部关注者' }).check();
  await page.getByRole('button', { name: '检查收件人' }).click();
  const review = page.getByRole('region', { name: '3. 确认' });
  await expect(review.getByRole('status')).toHaveText(/将发送给 \d+ 人/);
  return review;
}

test('each refusal shows its own meaning in Chinese and English', async ({ browser }) => {
  test.setTimeout(120_000);
  const context = await browser.newContext();
  const page = await context.newPage();
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await waitForHydration(page);
  await useApprovalAccount(page);

  // 1. An approval threshold out of range: refused as typed, with the range; Save stays off.
  await page.goto('/jobs');
  await waitForHydration(page);
  const approval = page.getByRole('region', { name: '发送审批' });
  await approval.getByLabel('审批阈值（收件人数）').fill('100000001');
  await expect(approval.getByRole('alert')).toHaveText('审批阈值：应在 0 到 100,000,000 之间');
  await expect(approval.getByRole('button', { name: '保存' })).toBeDisabled();
  await switchTo(page, 'English');
  await expect(page.getByRole('region', { name: 'Send approval' }).getByRole('alert'))
    .toHaveText('Approval threshold: must be between 0 and 100,000,000');
  await switchTo(page, '中文');
  await approval.getByLabel('审批阈值（收件人数）').fill('5');
  await approval.getByRole('button', { name: '保存' }).click();
  await expect(approval.getByRole('status')).toHaveText('已保存');

  // 2. A job name over the limit (60 characters), and 3. a job nobody would receive.
  let review = await reviewJobToEveryone(page);
  await review.getByLabel('任务名称').fill('长'.repeat(61));
  await expect(review.getByRole('alert')).toHaveText('任务名称：最多 60 个字符');
  await expect(review.getByRole('button', { name: '创建并开始发送' })).toBeDisabled();
  await switchTo(page, 'English');
  await expect(page.getByRole('region', { name: '3. Review' }).getByRole('alert')).toHaveText('Job name: at most 60 characters');
  await switchTo(page, '中文');
  await review.getByLabel('任务名称').fill('长'.repeat(60));
  await expect(review.getByRole('alert')).toHaveCount(0);

  await page.getByRole('radio', { name: '粘贴或上传 openid 列表' }).check();
  await page.getByRole('textbox', { name: /openid 列表/ }).fill('oNobodyFollowsThisAccount00');
  await page.getByRole('button', { name: '检查收件人' }).click();
  await expect(review.getByRole('status')).toHaveText('将发送给 0 人');
  await expect(review.getByRole('alert')).toHaveText('收件人：没有人会收到这条消息，请调整收件人');
  await switchTo(page, 'English');
  await expect(page.getByRole('region', { name: '3. Review' }).getByRole('alert'))
    .toHaveText('Recipients: nobody would receive this message; change the recipients');
  await switchTo(page, '中文');

  // 4. An admin approving a job they created: it waits for a second admin, and says so.
  review = await reviewJobToEveryone(page);
  await review.getByLabel('任务名称').fill('自己审批');
  await review.getByRole('button', { name: '创建并开始发送' }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await waitForHydration(page);
  const waiting = page.getByRole('region', { name: '等待审批' });
  await waiting.getByRole('button', { name: '批准并开始发送' }).click();
  await expect(page.getByRole('alert')).toHaveText('审批：不能审批自己创建的任务，需要另一位管理员审批');
  await switchTo(page, 'English');
  await expect(page.getByRole('alert')).toHaveText('Approval: you cannot approve a job you created: another admin must');
  await switchTo(page, '中文');
  await page.getByRole('button', { name: '取消任务' }).click();
  await expect(page.getByRole('status').filter({ hasText: '已取消' })).toBeVisible();

  // 5. Resuming a job another tab has just cancelled. This page keeps showing the paused job
  // (its progress requests answer with the last paused snapshot), as a page that has not
  // caught up yet would.
  await page.goto('/jobs');
  await waitForHydration(page);
  await approval.getByLabel('审批阈值（收件人数）').fill('10000');
  await approval.getByRole('button', { name: '保存' }).click();
  await expect(approval.getByRole('status')).toHaveText('已保存');
  review = await reviewJobToEveryone(page);
  await review.getByLabel('任务名称').fill('慢速任务');
  await review.getByLabel('限速（条/秒）').fill('1');
  await review.getByRole('button', { name: '创建并开始发送' }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await waitForHydration(page);
  const jobUrl = new URL(page.url()).pathname;
  await page.getByRole('button', { name: '暂停' }).click();
  const paused = page.getByRole('status').filter({ hasText: '已暂停' });
  await expect(paused).toBeVisible();
  let snapshot: string | undefined;
  await page.route('**/api/job_progress', async (route) => {
    if (snapshot === undefined) {
      const res = await route.fetch();
      snapshot = await res.text();
    }
    await route.fulfill({ status: 200, contentType: 'application/json', body: snapshot });
  });
  await expect.poll(() => snapshot).toContain('"paused"');

  const other = await context.newPage();
  await other.goto(jobUrl);
  await waitForHydration(other);
  await other.getByRole('button', { name: '取消任务' }).click();
  await expect(other.getByRole('status').filter({ hasText: '已取消' })).toBeVisible();

  await page.getByRole('button', { name: '继续' }).click();
  await expect(page.getByRole('alert')).toHaveText('任务状态：任务已取消，不能继续');
  await switchTo(page, 'English');
  await expect(page.getByRole('alert')).toHaveText('Job state: the job is cancelled: it cannot be resumed');
  await switchTo(page, '中文');
  await context.close();
});
