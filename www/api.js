// api.js — the console's side of the HTTP API (docs/CONSOLE.md) and the
// session it runs under.
//
// Owns the session as login or GET /api/session gave it: user, role, the
// operator's servers and the CSRF token that every POST carries in
// X-CSRF-Token. Errors come back as ApiError with the daemon's own sentence
// ({"error": ...}), untouched, so a config error shows exactly the
// "file:line: message" lines the daemon wrote. A 401 on any call but login
// means the session ended: the handler set with onSessionLost() is told.
//
// The role decides only what the page offers; the API checks it again on
// every call.

export class ApiError extends Error {
	constructor(status, message, retryAfter)
	{
		super(message);
		this.status = status;
		this.retryAfter = retryAfter;
	}
}

let current = null;
let lostHandler = null;

export function onSessionLost(fn)
{
	lostHandler = fn;
}

export function session()
{
	return current;
}

export function setSession(s)
{
	current = s;
}

export function isAdmin()
{
	return current !== null && current.role === 'admin';
}

// May the user change server name's state and settings, and act on the
// messages it accepted?
export function canManage(name)
{
	if (current === null)
		return false;
	if (current.role === 'admin')
		return true;
	return isOperator() && Array.isArray(current.servers) && current.servers.includes(name);
}

function isOperator()
{
	return current !== null && String(current.role).startsWith('operator');
}

export function roleLabel(s)
{
	if (s.role === 'admin')
		return 'Administrator';
	if (String(s.role).startsWith('operator'))
		return 'Operator of ' + (s.servers || []).join(', ');
	if (s.role === 'readonly')
		return 'Read-only';
	return String(s.role);
}

async function request(method, path, body)
{
	const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
	if (method === 'POST') {
		init.headers['Content-Type'] = 'application/json';
		if (current !== null)
			init.headers['X-CSRF-Token'] = current.csrf;
		init.body = JSON.stringify(body || {});
	}
	let resp;
	try {
		resp = await fetch(path, init);
	} catch (e) {
		throw new ApiError(0, 'The console cannot be reached (' + e.message + ').');
	}
	const text = await resp.text();
	let data = null;
	try {
		data = text ? JSON.parse(text) : null;
	} catch {
		data = null;
	}
	if (resp.ok)
		return data;
	const message = data && typeof data.error === 'string' ? data.error
		: `The console answered ${resp.status} ${resp.statusText}.`;
	const err = new ApiError(resp.status, message, resp.headers.get('Retry-After'));
	if (resp.status === 401 && path !== '/api/login' && current !== null) {
		current = null;
		if (lostHandler)
			lostHandler(err);
	}
	throw err;
}

export function get(path)
{
	return request('GET', path);
}

export function post(path, body)
{
	return request('POST', path, body);
}

// A path segment (server name, queue ID) made safe for a URL.
export function seg(s)
{
	return encodeURIComponent(s);
}
