// settings.js — changes one setting of a virtual server in its property
// pages and saves it. With --bad VALUE, first saves that value and reports
// the error the page shows (the daemon's text), then the good one.
// Arguments: --server NAME --tab LABEL --key KEY --value VALUE [--bad VALUE].
// Result: {"bad_error", "notice", "shown"} (shown: the field after saving).

'use strict';

const { scenario, login, openServer } = require('./lib');

scenario(async (page, args) => {
	await login(page, args);
	await openServer(page, args.server, args.tab);
	const field = page.getByRole('tabpanel', { name: args.tab }).getByLabel(args.key, { exact: true });
	const save = page.getByRole('button', { name: 'Save' });
	const out = {};
	if (args.bad !== undefined) {
		await field.fill(args.bad);
		await save.click();
		const box = page.locator('.form-error pre');
		await box.filter({ hasText: /\S/ }).waitFor();
		out.bad_error = await box.textContent();
	}
	await field.fill(args.value);
	await save.click();
	const notice = page.getByRole('status').getByText(/^Saved /);
	const refused = page.locator('.form-error pre');
	await notice.or(refused).first().waitFor();
	if (await refused.isVisible())
		throw new Error('the console says: ' + await refused.textContent());
	out.notice = await notice.textContent();
	out.error_hidden = await page.locator('.form-error').isHidden();
	out.shown = await field.inputValue();
	return out;
});
