// wrong_password.js — sends the login form with the given (wrong) password
// and reports the error the form shows, and that no session was opened.
// Result: {"error", "logged_in"}.

'use strict';

const { scenario, submitLogin } = require('./lib');

scenario(async (page, args) => {
	await submitLogin(page, args);
	const err = page.locator('#login-error');
	await err.filter({ hasText: /\S/ }).waitFor();
	return {
		error: await err.textContent(),
		logged_in: await page.locator('#app').isVisible(),
	};
});
