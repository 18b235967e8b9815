// queue_action.js — acts on a queued message from the queue view: opens its
// details (the header must show), then presses the action's button,
// confirming when asked (delete, bounce), and waits for the outcome.
// Arguments: --id ID --action LABEL (Hold, Release, Flush, Delete, Bounce).
// Result: {"notice", "status" (the row's status after, or null when gone), "headers"}.

'use strict';

const { scenario, login, outcome } = require('./lib');

scenario(async (page, args) => {
	await login(page, args);
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Queue' }).click();
	const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: args.id }) });
	await row.waitFor();

	await row.getByRole('button', { name: `Details of ${args.id}` }).click();
	const dialog = page.getByRole('dialog', { name: `Message ${args.id}` });
	const headers = dialog.getByLabel('Message header');
	await headers.filter({ hasText: /\S/ }).waitFor();
	const out = { headers: await headers.textContent() };
	await dialog.getByRole('button', { name: 'Close' }).click();

	await row.getByRole('button', { name: `${args.action} ${args.id}` }).click();
	const confirm = page.getByRole('dialog').filter({ has: page.getByRole('heading', { name: /\?$/ }) });
	if (args.action === 'Delete' || args.action === 'Bounce')
		await confirm.getByRole('button', { name: args.action }).click();
	const notice = page.getByRole('status').getByText(`Message ${args.id}`);
	await outcome(page, notice);
	out.notice = await notice.textContent();
	const after = { Hold: 'held', Release: 'queued', Flush: 'queued' }[args.action];
	if (after) {
		await row.locator('.state').filter({ hasText: after }).waitFor();
		out.status = await row.locator('.state').textContent();
	} else {
		await row.waitFor({ state: 'detached' });
		out.status = null;
	}
	return out;
});
