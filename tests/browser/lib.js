// lib.js — what every browser scenario of the web console shares: its
// arguments, Debian's chromium through playwright-core, logging in, and the
// one line of JSON a scenario reports to pytest.
//
// A scenario is one node process: `node SCENARIO.js --url URL --user U
// --password P [--name value ...]`. It prints `RESULT {json}` and exits 0,
// or prints what went wrong and exits 1. pytest (tests/integration/
// test_console_browser.py) runs it and checks the daemon-side effects.
// Any script error in the page, and any console error but an API answer's
// HTTP status (a 401 before login is normal), fails the scenario: a CSP
// violation shows up there.

'use strict';

const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = 15000;

function parseArgs(argv)
{
	const args = {};
	for (let i = 0; i < argv.length; i += 2) {
		if (!argv[i].startsWith('--') || i + 1 >= argv.length)
			throw new Error(`bad argument ${argv[i]}: expected --name value pairs`);
		args[argv[i].slice(2)] = argv[i + 1];
	}
	for (const need of ['url', 'user', 'password'])
		if (!(need in args))
			throw new Error(`missing --${need}`);
	return args;
}

function ignorable(msg)
{
	const url = (msg.location() && msg.location().url) || '';
	return msg.text().startsWith('Failed to load resource') && new URL(url, 'http://x/').pathname.startsWith('/api/');
}

// Runs body(page, args) in a fresh 1280x800 browser; reports its result.
function scenario(body)
{
	(async () => {
		let browser = null;
		let code = 0;
		try {
			const args = parseArgs(process.argv.slice(2));
			browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
			const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
			context.setDefaultTimeout(TIMEOUT_MS);
			const page = await context.newPage();
			const problems = [];
			page.on('pageerror', e => problems.push('page error: ' + e.message));
			page.on('console', msg => {
				if (msg.type() === 'error' && !ignorable(msg))
					problems.push('console error: ' + msg.text());
			});
			const result = await body(page, args);
			if (problems.length)
				throw new Error(problems.join('\n'));
			process.stdout.write('RESULT ' + JSON.stringify(result === undefined ? {} : result) + '\n');
		} catch (e) {
			process.stderr.write((e && e.stack) || String(e));
			process.stderr.write('\n');
			code = 1;
		} finally {
			if (browser)
				await browser.close();
		}
		process.exit(code);
	})();
}

// Fills and sends the login form; does not wait for the outcome.
async function submitLogin(page, args)
{
	await page.goto(args.url);
	await page.getByLabel('User name').fill(args.user);
	await page.getByLabel('Password').fill(args.password);
	await page.getByRole('button', { name: 'Log in' }).click();
}

// Logs in and waits for the console's header to name the user.
async function login(page, args)
{
	await submitLogin(page, args);
	await page.locator('#who-user').filter({ hasText: args.user }).waitFor();
	await page.getByRole('heading', { name: 'Virtual servers' }).waitFor();
}

// The row of the servers list for server name.
function serverRow(page, name)
{
	return page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
}

// Opens server name's page on tab (its label: General, Access, Messages, Delivery).
async function openServer(page, name, tab)
{
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Servers' }).click();
	await serverRow(page, name).getByRole('link', { name, exact: true }).click();
	await page.getByRole('tablist').waitFor();
	if (tab)
		await page.getByRole('tab', { name: tab }).click();
}

// Waits for success (a locator) or for the console to show an error notice,
// and throws with the console's text in the second case.
async function outcome(page, success)
{
	const failure = page.locator('.notice.bad');
	await success.or(failure).first().waitFor();
	if (await failure.count())
		throw new Error('the console says: ' + await failure.first().locator('pre').textContent());
}

module.exports = { scenario, login, submitLogin, serverRow, openServer, outcome };
