// Syncing followers from the UI with a live progress bar, dashboard counts against the
// simulator's ground truth, and filter + select + send-to-selected.
import { test, expect, ADMIN, SYNC_SIM, login, waitForHydration } from './fixtures';

/** A count as the console shows it, with thousands separators (2,500). */
const n = (v: number) => v.toLocaleString('en-US');

test('sync from the UI, counts equal the simulator, filter and select recipients', async ({ page, request }) => {
  const truth = await (await request.get(`${SYNC_SIM.url}/sim/truth`)).json();
  expect(truth.followers).toBe(2500);

  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await page.goto('/settings');
  await waitForHydration(page);
  const form = page.getByRole('region', { name: '添加账号' });
  await form.getByLabel('类型').selectOption({ label: '公众号' });
  await form.getByLabel('名称').fill('同步测试号');
  await form.getByLabel('AppID').fill(SYNC_SIM.oa.appid);
  await form.getByLabel('AppSecret').fill(SYNC_SIM.oa.secret);
  await form.getByLabel('API 地址').fill(SYNC_SIM.url);
  await form.getByRole('button', { name: '添加账号' }).click();
  await expect(page.getByRole('rowheader', { name: '同步测试号' })).toBeVisible();

  // Work on that account.
  const switcher = page.getByLabel('当前账号');
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/select_account') && r.ok()),
    switcher.selectOption({ label: '同步测试号' }),
  ]);
  await page.goto('/followers');
  await waitForHydration(page);
  await expect(page.getByText('尚未同步过粉丝。')).toBeVisible();

  await page.getByRole('button', { name: '同步粉丝' }).click();
  const bar = page.getByRole('progressbar', { name: '同步进度' });
  await expect(bar).toHaveAttribute('value', '100', { timeout: 60_000 });
  await expect(page.getByRole('status').filter({ hasText: '已完成' })).toBeVisible();
  await expect(page.getByText(`共 ${n(truth.followers)} 位粉丝符合条件`)).toBeVisible();

  // The dashboard's figures are the simulator's ground truth.
  await page.goto('/');
  const card = (name: string) => page.getByRole('region', { name }).locator('.stat-value');
  await expect(card('粉丝总数')).toHaveText(n(truth.followers));
  await expect(card('当前关注')).toHaveText(n(truth.subscribed));
  await expect(card('有 unionid')).toHaveText(n(truth.with_unionid));
  await expect(card('无 unionid')).toHaveText(n(truth.followers_without_unionid));
  await expect(page.getByRole('img', { name: '粉丝与匹配构成图' })).toBeVisible();
  await expect(page.getByText(/上次同步：\d{4}-\d{2}-\d{2}/)).toBeVisible();

  // Filter on the server, then pick two people.
  await page.goto('/followers');
  await waitForHydration(page);
  const filters = page.getByRole('form', { name: '筛选粉丝' });
  await filters.getByLabel('unionid').selectOption({ label: '无 unionid' });
  await filters.getByRole('button', { name: '筛选' }).click();
  await expect(page).toHaveURL(/unionid=no/);
  await waitForHydration(page);
  await expect(page.getByText(`共 ${n(truth.followers_without_unionid)} 位粉丝符合条件`)).toBeVisible();

  const boxes = page.getByRole('checkbox', { name: /^选择 o/ });
  const first = (await boxes.nth(0).getAttribute('value'))!;
  const second = (await boxes.nth(1).getAttribute('value'))!;
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await page.getByRole('button', { name: '发送给所选' }).click();
  await expect(page).toHaveURL(/\/jobs\/new\?/);
  await waitForHydration(page);
  await expect(page.getByRole('radio', { name: '在粉丝页选择的 2 位粉丝' })).toBeChecked();
  await page.getByRole('button', { name: '检查收件人' }).click();
  const review = page.getByRole('region', { name: '3. 确认' });
  const willReceive = Number((await review.getByRole('status').textContent())!.replace(/\D/g, ''));
  const skipped = await review.getByRole('list', { name: '跳过的原因' }).count();
  expect(willReceive + (skipped ? 1 : 0) >= 1).toBe(true);
  expect(willReceive <= 2).toBe(true);
  expect(first).not.toBe(second);

  // Or everybody the filter selects: receivers plus skipped add up to the filter's count.
  await page.goBack();
  await waitForHydration(page);
  await page.getByRole('button', { name: `发送给全部 ${n(truth.followers_without_unionid)} 位符合条件的粉丝` }).click();
  await waitForHydration(page);
  await expect(page.getByRole('radio', { name: '符合粉丝页筛选条件的全部粉丝' })).toBeChecked();
  await page.getByRole('button', { name: '检查收件人' }).click();
  const all = page.getByRole('region', { name: '3. 确认' });
  await expect(all.getByRole('status')).toHaveText(/^将发送给 \d+ 人$/);
  const receive = Number((await all.getByRole('status').textContent())!.replace(/\D/g, ''));
  const item = all.getByRole('listitem').filter({ hasText: '已取消关注' });
  const unfollowed = (await item.count()) ? Number((await item.textContent())!.replace(/\D/g, '')) : 0;
  expect(receive + unfollowed).toBe(truth.followers_without_unionid);
});
