// screenshots.js — a screenshot of every page of the console, kept as test
// artefacts: the servers list, each settings tab of one server (General,
// Access, Messages, Delivery), the queue and the charts.
// Arguments: --server NAME --out DIRECTORY (created).
// Result: {"files": [...], "legend": {series: total in the hour}} (the chart of all servers).

'use strict';

const fs = require('fs');
const path = require('path');
const { scenario, login, openServer } = require('./lib');

const TABS = ['General', 'Access', 'Messages', 'Delivery'];

scenario(async (page, args) => {
	fs.mkdirSync(args.out, { recursive: true });
	const files = [];
	const shot = async name => {
		const file = path.join(args.out, name + '.png');
		await page.screenshot({ path: file, fullPage: true });
		files.push(file);
	};
	await login(page, args);
	await page.getByRole('row').nth(1).waitFor();
	await shot('servers');
	await openServer(page, args.server);
	for (const tab of TABS) {
		await page.getByRole('tab', { name: tab }).click();
		await page.getByRole('tabpanel', { name: tab }).waitFor();
		await shot('server-' + tab.toLowerCase());
	}
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Queue' }).click();
	await page.getByRole('heading', { name: 'Queue' }).waitFor();
	await page.getByText(/in the queue|match the filter/).waitFor();
	await shot('queue');
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Charts' }).click();
	await page.getByRole('img', { name: /Messages per minute/ }).waitFor();
	await shot('charts');
	const legend = {};
	for (const item of await page.getByRole('list', { name: 'Legend' }).getByRole('listitem').all()) {
		const total = await item.locator('.total').textContent();
		legend[await item.locator('.series-name').textContent()] = parseInt(total.replace(/,/g, ''), 10);
	}
	return { files, legend };
});
