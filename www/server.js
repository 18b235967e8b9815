// server.js — one virtual server's page: its state and buttons, its live
// counters, and its settings sheet (settings.js) with a tab per page.
//
// The state and counters are polled; the settings are read once when the
// page opens and again after a save, so a refresh never overwrites what the
// admin is typing.

import { ApiError, get, seg } from './api.js';
import { fill, fmtBytes, fmtCount, h, poll } from './dom.js';
import { banner, serverActions, stateBadge } from './ui.js';
import { serverKeys, settingsSheet } from './settings.js';

const POLL_MS = 3000;

const STRIP = [
	['sessions', 'Sessions now'],
	['connections', 'Connections'],
	['messages', 'Accepted'],
	['rejected', 'Rejected'],
	['delivered', 'Delivered'],
	['deferred', 'Deferred'],
	['bounced', 'Bounced'],
	['bytes_in', 'Received'],
];

// Returns the page's controller: stop() ends its polling, select(page) switches tabs.
export function showServer(view, name, page)
{
	const state = h('span.head-state');
	const actions = h('span.head-actions');
	const where = h('p.sub');
	const strip = h('dl.strip');
	const body = h('div.card', null, h('p.loading', null, 'Loading settings…'));
	fill(view,
		h('nav.crumbs', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/servers' }, 'Virtual servers'), ' / ', name),
		h('div.page-head.with-actions', null,
			h('div', null, h('h1', null, 'Server ', h('span.mono', null, name), ' ', state), where),
			actions),
		strip, body);

	let sheet = null;
	let shownState = null;
	let stopped = false;

	const refresh = async () => {
		let list;
		try {
			list = await get('/api/servers');
		} catch (e) {
			if (e instanceof ApiError && e.status !== 401)
				banner(e.message);
			return;
		}
		banner(null);
		const s = list.find(x => x.name === name);
		if (!s || stopped)
			return;
		const c = Object.assign({}, s.counters, { sessions: s.sessions });
		fill(strip, STRIP.map(([k, label]) => h('div', null, h('dt', null, label), h('dd', null, k === 'bytes_in' ? fmtBytes(c[k]) : fmtCount(c[k])))));
		if (s.state !== shownState) {
			shownState = s.state;
			fill(state, stateBadge(s.state));
			fill(actions, serverActions(name, s.state, refresh));
		}
	};

	const open = async () => {
		let keys, shown;
		try {
			[keys, shown] = await Promise.all([serverKeys(), get(`/api/servers/${seg(name)}`)]);
		} catch (e) {
			fill(body, h('p.error', { role: 'alert' }, e.message));
			return;
		}
		if (stopped)
			return;
		where.textContent = `Defined in ${shown.file}, line ${shown.line}.`;
		sheet = settingsSheet(body, name, keys, shown, page, refresh);
	};

	open();
	const stopPoll = poll(refresh, POLL_MS);
	return {
		stop()
		{
			stopped = true;
			stopPoll();
		},
		select(p)
		{
			if (sheet)
				sheet.select(p);
			else
				page = p;
		},
	};
}
