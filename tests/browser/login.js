// login.js — logs in and reports what the console shows this account: the
// header (user, role), the virtual servers listed with the state buttons
// offered on each, the servers offered in the queue filter, and whether the
// settings of each listed server can be edited. With --foreign NAME, also
// opens NAME's page by its address (a server not listed) and reports the
// error shown. Ends by logging out.
// Result: {"user", "role", "servers": {NAME: {"state", "buttons", "editable"}},
//          "queue_servers", "foreign_error", "logged_out"}.

'use strict';

const { scenario, login, serverRow, openServer } = require('./lib');

scenario(async (page, args) => {
	await login(page, args);
	const out = {
		user: await page.locator('#who-user').textContent(),
		role: await page.locator('#who-role').textContent(),
		servers: {},
	};
	await page.getByRole('row').nth(1).waitFor();
	const names = await page.getByRole('rowheader').allTextContents();
	for (const name of names) {
		const row = serverRow(page, name);
		out.servers[name] = {
			state: (await row.locator('.state').textContent()).trim(),
			buttons: await row.getByRole('button').allTextContents(),
		};
	}
	for (const name of names) {
		await openServer(page, name, 'General');
		const field = page.getByLabel('hostname');
		await field.waitFor();
		out.servers[name].editable = await field.isEditable() &&
			await page.getByRole('button', { name: 'Save' }).count() === 1;
	}

	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Queue' }).click();
	const filter = page.getByLabel('Server', { exact: true });
	await filter.locator('option').nth(names.length).waitFor({ state: 'attached' });
	out.queue_servers = (await filter.locator('option').allTextContents()).slice(1);

	if (args.foreign) {
		await page.goto(new URL(`#/servers/${encodeURIComponent(args.foreign)}/general`, args.url).href);
		const err = page.locator('main [role=alert]');
		await err.waitFor();
		out.foreign_error = await err.textContent();
	}

	await page.getByRole('button', { name: 'Log out' }).click();
	await page.getByText('You are logged out.').waitFor();
	out.logged_out = await page.getByRole('button', { name: 'Log in' }).isVisible();
	return out;
});
