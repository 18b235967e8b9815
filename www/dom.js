// dom.js — small DOM and formatting helpers shared by the console's views.
//
// Every text from the daemon goes into the page as text (textContent,
// attribute values), never as markup: a sender address or a header line
// cannot inject anything. No inline styles either (the CSP forbids them):
// looks are classes from console.css.

// h('tag#id.class', {attr: value, onclick: fn, ...}, child, ...): an element.
// Children are nodes or strings; null, undefined and false are skipped.
// Properties that are not attributes (value, checked, disabled, hidden, selected)
// are set as properties, and on* functions become listeners.
export function h(spec, props, ...children)
{
	const [head, ...classes] = spec.split('.');
	const [tag, id] = head.split('#');
	const node = document.createElement(tag);
	if (id)
		node.id = id;
	if (classes.length)
		node.className = classes.join(' ');
	for (const [key, value] of Object.entries(props || {})) {
		if (value === null || value === undefined || value === false)
			continue;
		if (key.startsWith('on') && typeof value === 'function')
			node.addEventListener(key.slice(2), value);
		else if (key === 'class')
			node.classList.add(...String(value).split(' ').filter(Boolean));
		else if (key in PROPS)
			node[key] = value;
		else
			node.setAttribute(key, value === true ? '' : String(value));
	}
	append(node, children);
	return node;
}

const PROPS = { value: 1, checked: 1, disabled: 1, hidden: 1, selected: 1, readOnly: 1 };

function append(node, children)
{
	for (const c of children) {
		if (c === null || c === undefined || c === false)
			continue;
		if (Array.isArray(c))
			append(node, c);
		else
			node.append(c instanceof Node ? c : String(c));
	}
}

// Replaces every child of node with children.
export function fill(node, ...children)
{
	node.replaceChildren();
	append(node, children);
	return node;
}

// Keeps tbody's rows in step with items, one row per key(item): a row whose
// item did not change is left alone, so a refresh does not steal the focus or
// a click from a button the admin is about to press.
export function syncRows(tbody, items, key, render)
{
	const old = new Map();
	for (const tr of tbody.rows)
		old.set(tr.dataset.key, tr);
	let prev = null;
	for (const item of items) {
		const k = key(item);
		const sig = JSON.stringify(item);
		let tr = old.get(k);
		if (tr && tr.dataset.sig !== sig) {
			const fresh = render(item);
			tr.replaceWith(fresh);
			tr = fresh;
		} else if (!tr) {
			tr = render(item);
		}
		old.delete(k);
		tr.dataset.key = k;
		tr.dataset.sig = sig;
		const want = prev ? prev.nextSibling : tbody.firstChild;
		if (want !== tr)
			tbody.insertBefore(tr, want);
		prev = tr;
	}
	for (const tr of old.values())
		tr.remove();
}

// One line of documentation from the key table (Markdown): `code` spans become
// <code>, *emphasis* <em>, the rest stays text.
export function docText(text)
{
	return String(text || '').split('`').map((part, i) => (i % 2 ? h('code', null, part) : emphasis(part)));
}

function emphasis(text)
{
	return text.split(/\*([^*\s][^*]*)\*/).map((part, i) => (i % 2 ? h('em', null, part) : part));
}

// The same line as plain text (for a placeholder): the Markdown marks removed.
export function plainText(text)
{
	return String(text || '').replace(/[`*]/g, '');
}

export function fmtCount(n)
{
	return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
}

export function fmtBytes(n)
{
	if (typeof n !== 'number')
		return '–';
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}
	return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

function pad(n)
{
	return String(n).padStart(2, '0');
}

// Unix seconds as local "YYYY-MM-DD HH:MM:SS".
export function fmtTime(t)
{
	if (!t)
		return '–';
	const d = new Date(t * 1000);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
		`${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtClock(t)
{
	const d = new Date(t * 1000);
	return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// Seconds as "3 d 4 h", "12 min", "40 s".
export function fmtSpan(s)
{
	s = Math.max(0, Math.round(s));
	if (s < 60)
		return `${s} s`;
	if (s < 3600)
		return `${Math.floor(s / 60)} min`;
	if (s < 86400)
		return `${Math.floor(s / 3600)} h ${Math.floor(s % 3600 / 60)} min`;
	return `${Math.floor(s / 86400)} d ${Math.floor(s % 86400 / 3600)} h`;
}

export function nowSeconds()
{
	return Math.floor(Date.now() / 1000);
}

// Calls fn now and then every ms after each call settled, until the returned
// stop() is called. Errors are fn's business: a failed poll does not stop it.
export function poll(fn, ms)
{
	let timer = null;
	let stopped = false;
	const run = async () => {
		try {
			await fn();
		} finally {
			if (!stopped)
				timer = setTimeout(run, ms);
		}
	};
	run();
	return () => {
		stopped = true;
		clearTimeout(timer);
	};
}
