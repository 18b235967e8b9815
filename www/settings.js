// settings.js — a virtual server's settings as a property sheet: one form,
// four pages (General, Access, Messages, Delivery), built from the key
// table (GET /api/keys) and filled from server.show (GET /api/servers/NAME).
//
// Save posts only the fields that differ from what the daemon reported, as
// {"settings": {key: value}}; an emptied field is null, which removes the
// key from the config file so that its default applies again. The daemon
// checks the values exactly as `vsmtpd -n` does: its error is shown as it
// came, every "file:line: message" line of it, and nothing is changed.
// Edits survive switching pages; they are dropped only by Revert or by
// leaving the server.

import { canManage, get, post, seg } from './api.js';
import { docText, h, plainText } from './dom.js';
import { notify } from './ui.js';

export const PAGES = [
	['general', 'General'],
	['access', 'Access'],
	['messages', 'Messages'],
	['delivery', 'Delivery'],
];

// Types whose values are a fixed pair even when the key table lists no choices.
const YES_NO = ['yes', 'no'];

let keysCache = null;

export async function serverKeys()
{
	if (keysCache === null)
		keysCache = await get('/api/keys');
	return keysCache;
}

// A key name that may wrap after its underscores, not inside a word.
function breakable(name)
{
	return name.split('_').map((part, i, all) => (i < all.length - 1 ? [part + '_', h('wbr')] : part));
}

function choicesOf(k)
{
	if (Array.isArray(k.choices) && k.choices.length)
		return k.choices.map(String);
	if (k.type === 'yes/no' || k.type === 'bool' || k.type === 'boolean')
		return YES_NO;
	return null;
}

function control(k, id, helpId, editable)
{
	const choices = choicesOf(k);
	const common = { id, name: k.name, 'aria-describedby': helpId, disabled: !editable };
	if (choices === null)
		return h('input', Object.assign(common, {
			type: 'text',
			placeholder: plainText(k.default || ''),
			autocomplete: 'off',
			autocapitalize: 'none',
			spellcheck: 'false',
		}));
	return h('select', common,
		h('option', { value: '' }, `Default (${k.default || 'none'})`),
		choices.map(c => h('option', { value: c }, c)));
}

// Sets a control to the daemon's value; a select learns a value it does not list.
function setValue(ctl, value)
{
	if (ctl.tagName === 'SELECT' && value !== '' && ![...ctl.options].some(o => o.value === value))
		ctl.append(h('option', { value }, value));
	ctl.value = value;
}

// Builds the sheet for server name into container; returns {select(page)}.
// onSaved() runs after a successful save.
export function settingsSheet(container, name, keys, shown, firstPage, onSaved)
{
	const editable = canManage(name);
	let original = Object.assign({}, shown.settings);
	const fields = new Map();	// key name -> {ctl, row, page}
	const tabs = new Map();		// page -> {tab, panel}

	const tablist = h('div.tabs', { role: 'tablist', 'aria-label': `Settings of ${name}` });
	const panels = h('div.panels');
	for (const [page, label] of PAGES) {
		const tab = h('button.tab', {
			type: 'button', role: 'tab', id: `tab-${page}`, 'aria-controls': `panel-${page}`,
			'aria-selected': 'false', tabindex: '-1',
			onclick: () => select(page, true),
			onkeydown: ev => tabKey(ev, page),
		}, h('span', null, label), h('span.tab-mark', { 'aria-hidden': 'true' }));
		const rows = keys.filter(k => k.page === page).map(k => fieldRow(k, page));
		const panel = h('div.panel',
			{ role: 'tabpanel', id: `panel-${page}`, 'aria-labelledby': `tab-${page}`, hidden: true },
			rows.length ? rows : h('p.empty', null, 'No setting on this page.'));
		tablist.append(tab);
		panels.append(panel);
		tabs.set(page, { tab, panel, label });
	}

	const count = h('span.changes', { 'aria-live': 'polite' });
	const saveBtn = h('button.primary', { type: 'submit', disabled: true }, 'Save');
	const revertBtn = h('button', { type: 'button', disabled: true, onclick: revert }, 'Revert');
	const errorBox = h('div.form-error', { role: 'alert', hidden: true },
		h('p', null, 'The daemon refused the change; nothing was written:'),
		h('pre.error-text'));
	const bar = editable
		? h('div.savebar', null, count, revertBtn, saveBtn)
		: h('p.note.savebar', null, 'Your role may not change the settings of this server.');
	const form = h('form.sheet', { novalidate: true, onsubmit: save }, tablist, panels, errorBox, bar);
	form.addEventListener('input', changed);
	form.addEventListener('change', changed);
	container.replaceChildren(form);
	load(original);
	select(firstPage, false);

	function fieldRow(k, page)
	{
		const id = `f-${k.name}`;
		const helpId = `h-${k.name}`;
		const ctl = control(k, id, helpId, editable);
		const row = h('div.field', null,
			h('label', { for: id }, breakable(k.name), k.required ? h('span.req', { title: 'required' }, ' *') : null),
			ctl,
			h('p.help', { id: helpId }, docText(k.doc), ' ',
				h('span.default', null, 'Default: ', docText(k.default || '(none)'), '.')));
		fields.set(k.name, { ctl, row, page });
		return row;
	}

	function load(values)
	{
		for (const [key, f] of fields)
			setValue(f.ctl, values[key] === undefined || values[key] === null ? '' : String(values[key]));
		changed();
	}

	function edits()
	{
		const out = {};
		for (const [key, f] of fields) {
			const now = f.ctl.value.trim();
			const was = original[key] === undefined || original[key] === null ? '' : String(original[key]);
			if (now !== was)
				out[key] = now === '' ? null : now;
		}
		return out;
	}

	function changed()
	{
		const e = edits();
		const dirtyPages = new Set();
		for (const [key, f] of fields) {
			const dirty = key in e;
			f.row.classList.toggle('changed', dirty);
			if (dirty)
				dirtyPages.add(f.page);
		}
		for (const [page, t] of tabs) {
			const dirty = dirtyPages.has(page);
			t.tab.querySelector('.tab-mark').textContent = dirty ? '•' : '';
			t.tab.setAttribute('aria-label', dirty ? `${t.label} (changed)` : t.label);
		}
		const n = Object.keys(e).length;
		count.textContent = n === 0 ? 'No unsaved change' : n === 1 ? '1 unsaved change' : `${n} unsaved changes`;
		saveBtn.disabled = n === 0;
		revertBtn.disabled = n === 0;
	}

	function select(page, focus)
	{
		if (!tabs.has(page))
			page = PAGES[0][0];
		for (const [p, t] of tabs) {
			const on = p === page;
			t.tab.setAttribute('aria-selected', String(on));
			t.tab.tabIndex = on ? 0 : -1;
			t.panel.hidden = !on;
		}
		if (focus)
			tabs.get(page).tab.focus();
		const want = `#/servers/${seg(name)}/${page}`;
		if (location.hash !== want)
			history.replaceState(null, '', want);
	}

	// Arrow keys, Home and End move between tabs (WAI-ARIA tabs pattern).
	function tabKey(ev, page)
	{
		const order = PAGES.map(p => p[0]);
		const i = order.indexOf(page);
		const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: order.length - 1 }[ev.key];
		if (next === undefined)
			return;
		ev.preventDefault();
		select(order[(next + order.length) % order.length], true);
	}

	function revert()
	{
		errorBox.hidden = true;
		load(original);
	}

	async function save(ev)
	{
		ev.preventDefault();
		const settings = edits();
		const keysChanged = Object.keys(settings);
		if (keysChanged.length === 0)
			return;
		errorBox.hidden = true;
		saveBtn.disabled = true;
		saveBtn.textContent = 'Saving…';
		try {
			await post(`/api/servers/${seg(name)}/settings`, { settings });
		} catch (e) {
			errorBox.querySelector('pre').textContent = e.message;
			errorBox.hidden = false;
			saveBtn.textContent = 'Save';
			changed();
			return;
		}
		saveBtn.textContent = 'Save';
		notify(`Saved ${keysChanged.join(', ')}: the configuration file was written and ${name} reloaded.`);
		try {
			const fresh = await get(`/api/servers/${seg(name)}`);
			original = Object.assign({}, fresh.settings);
		} catch {
			// The change is saved; what the form shows is what was sent.
			for (const k of keysChanged)
				original[k] = settings[k] === null ? '' : settings[k];
		}
		load(original);
		onSaved();
	}

	return { select: page => select(page, false) };
}
