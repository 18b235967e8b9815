// console.js — the web console's entry point: login and logout, the header
// with the user and role, and the routing of #/ addresses to the views.
//
// Routes: #/servers, #/servers/NAME/PAGE (PAGE: general, access, messages,
// delivery), #/queue, #/charts. One view is live at a time; leaving it stops
// its polling. Switching tabs inside a server's page keeps the page (and any
// unsaved edits) and only updates the address.

import { ApiError, get, onSessionLost, post, roleLabel, session, setSession } from './api.js';
import { showCharts } from './charts.js';
import { showQueue } from './queue.js';
import { showServer } from './server.js';
import { showServers } from './servers.js';
import { PAGES } from './settings.js';
import { banner, clearNotices } from './ui.js';

const $ = id => document.getElementById(id);

let live = null;	// {key, stop(), select?(page)} of the view on screen

function route()
{
	if (session() === null)
		return;
	const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
	let key, start, page;
	if (parts[0] === 'servers' && parts[1]) {
		page = PAGES.some(p => p[0] === parts[2]) ? parts[2] : 'general';
		key = 'server:' + parts[1];
		start = view => showServer(view, parts[1], page);
	} else if (parts[0] === 'queue') {
		key = 'queue';
		start = showQueue;
	} else if (parts[0] === 'charts') {
		key = 'charts';
		start = showCharts;
	} else {
		key = 'servers';
		start = showServers;
		if (location.hash !== '#/servers')
			history.replaceState(null, '', '#/servers');
	}
	for (const a of document.querySelectorAll('[data-nav]')) {
		if (key.startsWith(a.dataset.nav))
			a.setAttribute('aria-current', 'page');
		else
			a.removeAttribute('aria-current');
	}
	if (live !== null && live.key === key) {
		if (live.select)
			live.select(page);
		return;
	}
	leave();
	banner(null);
	const view = $('view');
	const ctl = start(view);
	live = typeof ctl === 'function' ? { stop: ctl } : ctl;
	live.key = key;
	view.focus({ preventScroll: true });
}

function leave()
{
	if (live !== null)
		live.stop();
	live = null;
}

function enter(s)
{
	setSession(s);
	$('who-user').textContent = s.user;
	$('who-role').textContent = roleLabel(s);
	$('login').hidden = true;
	$('loading').hidden = true;
	$('app').hidden = false;
	route();
}

// Back to the login form, with a note saying why (or none).
function showLogin(note)
{
	leave();
	setSession(null);
	clearNotices();
	$('view').replaceChildren();
	$('app').hidden = true;
	$('loading').hidden = true;
	$('login').hidden = false;
	$('login-note').textContent = note || '';
	$('login-error').textContent = '';
	$('login-password').value = '';
	($('login-user').value ? $('login-password') : $('login-user')).focus();
}

function loginError(e)
{
	if (e.status === 429) {
		const secs = parseInt(e.retryAfter, 10);
		const wait = secs > 0 ? ` Try again in ${Math.ceil(secs / 60)} minute${secs > 60 ? 's' : ''}.` : ' Try again later.';
		return 'Too many failed logins from this address.' + wait;
	}
	if (e.status === 401)
		return 'Wrong user name or password.';
	return e.message;
}

async function login(ev)
{
	ev.preventDefault();
	const user = $('login-user').value.trim();
	const password = $('login-password').value;
	const err = $('login-error');
	err.textContent = '';
	if (!user || !password) {
		err.textContent = 'Enter your user name and password.';
		return;
	}
	const btn = $('login-submit');
	btn.disabled = true;
	try {
		const s = await post('/api/login', { user, password });
		$('login-password').value = '';
		enter(s);
	} catch (e) {
		err.textContent = loginError(e);
		$('login-password').select();
	} finally {
		btn.disabled = false;
	}
}

async function logout()
{
	try {
		await post('/api/logout');
	} catch (e) {
		// The session is gone either way once the form shows.
		if (!(e instanceof ApiError))
			throw e;
	}
	showLogin('You are logged out.');
}

async function start()
{
	$('login-form').addEventListener('submit', login);
	$('logout').addEventListener('click', logout);
	window.addEventListener('hashchange', route);
	onSessionLost(() => showLogin('Your session has ended: log in again.'));
	try {
		enter(await get('/api/session'));
	} catch (e) {
		showLogin(e.status === 401 ? '' : e.message);
	}
}

start();
