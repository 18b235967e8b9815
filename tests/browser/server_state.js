// server_state.js — presses a state button (Start, Stop, Pause, Resume) of a
// virtual server in the servers list and waits for the new state.
// Arguments: --server NAME --action LABEL --expect STATE. Result: {"state"}.

'use strict';

const { scenario, login, outcome, serverRow } = require('./lib');

scenario(async (page, args) => {
	await login(page, args);
	const row = serverRow(page, args.server);
	await row.getByRole('button', { name: `${args.action} ${args.server}` }).click();
	await outcome(page, row.locator('.state').filter({ hasText: new RegExp(`^${args.expect}$`) }));
	return { state: await row.locator('.state').textContent() };
});
