// Each person's own values: a preset with variables, an .xlsx with three bad lines uploaded on
// 新建发送任务, the review listing exactly those lines, the job created without them, and the
// job page showing every person's values.
import { test, expect, ADMIN, SHEET_SIM, addSimAccount, login, syncFollowers, waitForHydration } from './fixtures';
import { xlsx } from './xlsx';

test('an .xlsx with bad lines is reviewed, sent without them, and each row shows its values', async ({ page }) => {
  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();

  await addSimAccount(page, '表格测试号', SHEET_SIM);
  await syncFollowers(page);

  // A preset whose values come from the file: the editor names the variables.
  await page.goto('/templates');
  await waitForHydration(page);
  const oaSection = page.getByRole('region', { name: '公众号模板消息' });
  await oaSection.getByRole('button', { name: '同步模板消息' }).click();
  await expect(oaSection.getByRole('status')).toContainText('同步完成');
  await oaSection.getByRole('article', { name: '订单状态通知' }).getByRole('link', { name: '用此模板新建预设' }).click();
  await waitForHydration(page);
  await page.getByLabel('预设名称').fill('个性化发货');
  await page.getByLabel('商品名称', { exact: true }).fill('{{商品}}');
  await page.getByLabel('订单编号', { exact: true }).fill('{{订单号}}');
  await page.getByLabel('下单时间', { exact: true }).fill('2023-10-18 14:30');
  await page.getByLabel('订单金额', { exact: true }).fill('¥{{金额}}');
  await page.getByLabel('订单状态', { exact: true }).fill('已发货');
  await expect(page.getByRole('note', { name: '预设使用的变量' })).toContainText('商品、订单号、金额');
  await page.getByRole('button', { name: '保存预设' }).click();
  await expect(page).toHaveURL(/\/templates\/presets\/\d+$/);

  // Six followers, three of them with values the template refuses.
  await page.goto('/followers?subscribed=yes');
  await waitForHydration(page);
  const boxes = page.getByRole('checkbox', { name: /^选择 o/ });
  const people: string[] = [];
  for (let i = 0; i < 6; i++) people.push((await boxes.nth(i).getAttribute('value'))!);
  const file = xlsx([
    ['openid', '商品', '订单号', '金额'],
    [people[0], '蓝牙耳机', 'A0001', '199.00'],
    [people[1], '一个名字非常非常长的商品已经超过了二十个字', 'A0002', '5'],
    [people[2], '保温杯', 'A0003', 39.5],
    [people[3], '手机壳', '含中文的单号', '5'],
    [people[4], '充电器', 'A0005', '很多钱'],
    [people[5], '雨伞', 'A0006', '25'],
  ]);

  await page.goto('/jobs/new');
  await waitForHydration(page);
  await page.getByRole('radio', { name: /上传表格/ }).check();
  await page.getByLabel('表格文件（.xlsx 或 .csv）').setInputFiles({
    name: '发货.xlsx',
    mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    buffer: file,
  });
  await page.getByRole('button', { name: '上传表格' }).click();
  await expect(page).toHaveURL(/\/jobs\/new\?sheet=\d+/);
  await waitForHydration(page);
  await expect(page.getByRole('status').filter({ hasText: '已上传' })).toHaveText(
    '已上传 发货.xlsx：6 行，收件人列 openid，变量列：商品、订单号、金额',
  );
  await page.getByRole('button', { name: '检查收件人' }).click();

  const review = page.getByRole('region', { name: '3. 确认' });
  await expect(review.getByRole('status').first()).toHaveText('6 行中将发送给 3 人');
  const bad = review.getByRole('list', { name: '有问题的行' }).getByRole('listitem');
  await expect(bad).toHaveCount(3);
  await expect(bad.nth(0)).toHaveText(/^第 3 行 · .*\(thing1\)：最多 20 个字符$/);
  await expect(bad.nth(1)).toHaveText(/^第 5 行 · .*\(character_string2\)：/);
  await expect(bad.nth(2)).toHaveText(/^第 6 行 · .*\(amount4\)：/);
  await expect(review.getByRole('article', { name: '第 2 行的消息' })).toContainText('蓝牙耳机');
  await expect(review.getByRole('article', { name: '第 4 行的消息' })).toContainText('¥39.5');
  await review.getByLabel('任务名称').fill('个性化发货提醒');
  await review.getByRole('button', { name: '创建任务（跳过 3 行）' }).click();

  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await waitForHydration(page);
  await expect(page.getByRole('progressbar', { name: '发送进度' })).toHaveAttribute('value', '100', { timeout: 30_000 });
  const progress = page.getByRole('region', { name: '进度' });
  await expect(progress.getByRole('definition').nth(0)).toHaveText('3');
  await expect(progress.getByRole('definition').nth(2)).toHaveText('3');
  const table = page.getByRole('region', { name: '收件人' });
  await expect(table.getByRole('row', { name: new RegExp(people[0]) })).toContainText('第 2 行 · 商品=蓝牙耳机 · 订单号=A0001 · 金额=199.00');
  await expect(table.getByRole('row', { name: new RegExp(people[2]) })).toContainText('金额=39.5');
  const refused = table.getByRole('row', { name: new RegExp(people[1]) });
  await expect(refused).toContainText('表格中的值不符合模板规则');
  await expect(refused).toContainText('第 3 行 · ');
});
