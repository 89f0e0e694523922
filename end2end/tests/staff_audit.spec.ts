// Staff and the audit log: an admin adds an operator, disables them while they are logged in
// elsewhere (their next action fails), and finds it all in the audit log filtered by action.
import { test, expect, ADMIN, gotoHydrated, login, waitForHydration } from './fixtures';

test('an admin adds an operator, disables them mid-session, and the audit log shows it', async ({ page, browser }) => {
  const name = 'e2e.staff';
  const password = 'e2e-staff-password-1';

  await login(page, ADMIN);
  await expect(page.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: '员工' }).click();
  await expect(page.getByRole('heading', { level: 1, name: '员工' })).toBeVisible();
  await waitForHydration(page);

  const form = page.getByRole('region', { name: '添加员工' });
  await form.getByLabel('用户名').fill(name);
  await form.getByLabel('角色').selectOption({ label: '运营' });
  await form.getByLabel('初始密码', { exact: true }).fill(password);
  await form.getByLabel('确认初始密码').fill(password);
  await form.getByRole('button', { name: '添加员工' }).click();
  await expect(form.getByRole('status')).toHaveText(`已添加 ${name}（运营）`);
  const row = page.getByRole('table').getByRole('row').filter({ hasText: name });
  await expect(row.getByText('启用', { exact: true })).toBeVisible();
  await expect(row.getByRole('cell', { name: '运营', exact: true })).toBeVisible();

  // The admin cannot disable themselves: no such button on their own row, and it says why.
  const own = page.getByRole('table').getByRole('row').filter({ hasText: '（你）' });
  await expect(own.getByRole('button', { name: `停用 ${ADMIN.username}` })).toHaveCount(0);
  await expect(own.getByText('不能停用自己')).toBeVisible();

  // The new operator logs in in a second browser.
  const elsewhere = await browser.newContext();
  const op = await elsewhere.newPage();
  await login(op, { username: name, password });
  await expect(op.getByRole('heading', { level: 1, name: '仪表盘' })).toBeVisible();
  await expect(op.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: '员工' })).toHaveCount(0);
  await gotoHydrated(op, '/staff');
  await expect(op.getByRole('alert')).toContainText('只有管理员可以查看此页面');
  await gotoHydrated(op, '/settings');
  await expect(op.getByRole('heading', { level: 2, name: '修改密码' })).toBeVisible();

  // The admin disables them.
  await page.getByRole('button', { name: `停用 ${name}` }).click();
  await expect(page.getByRole('status').filter({ hasText: `已停用 ${name}` })).toHaveText(
    `已停用 ${name}，其所有登录会话已结束`,
  );
  await expect(row.getByText('已停用', { exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: `启用 ${name}` })).toBeVisible();

  // Their next action fails: the session is gone.
  const change = op.getByRole('region', { name: '修改密码' });
  await change.getByLabel('当前密码').fill(password);
  await change.getByLabel('新密码', { exact: true }).fill('e2e-staff-password-2');
  await change.getByLabel('确认新密码').fill('e2e-staff-password-2');
  await change.getByRole('button', { name: '修改密码' }).click();
  await expect(change.getByRole('alert')).toHaveText('请先登录');
  await op.reload();
  await expect(op).toHaveURL(/\/login\?next=\/settings$/);
  await login(op, { username: name, password });
  await expect(op.getByRole('alert')).toHaveText('该账号已停用，请联系管理员');
  await elsewhere.close();

  // The audit log, filtered by action group, then by one action.
  await page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: '审计日志' }).click();
  await expect(page.getByRole('heading', { level: 1, name: '审计日志' })).toBeVisible();
  await waitForHydration(page);
  await page.getByLabel('操作类型').selectOption({ label: '员工（全部）' });
  await page.getByLabel('对象包含').fill(name);
  await page.getByRole('button', { name: '筛选', exact: true }).click();
  await expect(page).toHaveURL(/action=staff\.\*/);
  const entries = page.getByRole('table').getByRole('row');
  await expect(entries.filter({ hasText: '停用员工' }).filter({ hasText: name })).toHaveCount(1);
  await expect(entries.filter({ hasText: '添加员工' }).filter({ hasText: name })).toHaveCount(1);
  await expect(entries.filter({ hasText: 'login.' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: '导出 CSV' })).toHaveAttribute(
    'href',
    `/export/audit.csv?action=staff.%2A&q=${name}`,
  );

  await page.getByLabel('操作类型').selectOption({ label: '登录失败' });
  await page.getByLabel('对象包含').fill(name);
  await page.getByRole('button', { name: '筛选', exact: true }).click();
  await expect(page).toHaveURL(/action=login\.failure/);
  await expect(entries.filter({ hasText: '登录失败 · 账号已停用' }).filter({ hasText: name })).toHaveCount(1);
  await expect(entries.filter({ hasText: '登录成功' })).toHaveCount(0);
});
