// servers.js — the list of virtual servers: state, listeners and live
// counters (GET /api/servers, polled), with the state buttons the role allows.
//
// Rows are updated in place so that a refresh never takes a button away
// from under the pointer. An operator gets only their servers from the API.
// Above the list: the daemon's status, and for an administrator a button
// that reloads the configuration file (as SIGHUP does).

import { ApiError, get, isAdmin, post, seg } from './api.js';
import { fill, fmtCount, fmtSpan, h, nowSeconds, poll, syncRows } from './dom.js';
import { banner, notify, notifyError, serverActions, stateBadge } from './ui.js';

const POLL_MS = 3000;

const COUNTERS = [
	['sessions', 'Sessions', 'open now'],
	['connections', 'Connections', 'since start'],
	['refused', 'Refused', 'at connect'],
	['messages', 'Accepted', 'messages'],
	['rejected', 'Rejected', 'messages refused after DATA'],
	['delivered', 'Delivered', 'recipients'],
	['deferred', 'Deferred', 'delivery attempts'],
	['bounced', 'Bounced', 'recipients'],
];

export function showServers(view)
{
	const tbody = h('tbody');
	const empty = h('p.empty', { hidden: true }, 'No virtual server to show.');
	const table = h('table.grid.servers',
		{ 'aria-describedby': 'servers-caption' },
		h('thead', null, h('tr', null,
			h('th', { scope: 'col' }, 'Server'),
			h('th', { scope: 'col' }, 'State'),
			h('th', { scope: 'col' }, 'Listening on'),
			COUNTERS.map(([, label, title]) => h('th.num', { scope: 'col', title }, label)),
			h('th', { scope: 'col' }, h('span.sr-only', null, 'Actions')))),
		tbody);
	const status = h('p.sub');
	const reload = isAdmin()
		? h('button', { type: 'button', onclick: () => reloadConfig(reload, refresh) }, 'Reload configuration')
		: null;
	fill(view,
		h('div.page-head.with-actions', null,
			h('div', null, h('h1', null, 'Virtual servers'), status),
			reload),
		h('div.card', null, table, empty),
		h('p#servers-caption.sub', null, 'Counters since the daemon started; refreshed every few seconds.'));

	const refresh = async () => {
		let list, st;
		try {
			[list, st] = await Promise.all([get('/api/servers'), get('/api/status')]);
		} catch (e) {
			if (e instanceof ApiError && e.status !== 401)
				banner(e.message);
			return;
		}
		banner(null);
		status.textContent = `vsmtpd ${st.version}, up ${fmtSpan(nowSeconds() - st.started)}; ` +
			`${fmtCount(st.sessions)} sessions open, ${fmtCount(st.queued)} messages queued; ` +
			`configuration ${st.config}.`;
		empty.hidden = list.length > 0;
		syncRows(tbody, list, s => s.name, s => row(s, refresh));
	};
	return poll(refresh, POLL_MS);
}

async function reloadConfig(button, refresh)
{
	button.disabled = true;
	try {
		const r = await post('/api/reload');
		const s = r.servers || {};
		const part = (label, names) => (names && names.length ? `${label} ${names.join(', ')}` : null);
		const what = [part('added', s.added), part('removed', s.removed), part('reloaded', s.reloaded)]
			.filter(Boolean).join('; ');
		notify('Configuration reloaded' + (what ? `: ${what}.` : '.'));
	} catch (e) {
		notifyError(e.message);
	}
	button.disabled = false;
	refresh();
}

function row(s, refresh)
{
	const c = s.counters || {};
	return h('tr', null,
		h('th', { scope: 'row' }, h('a', { href: `#/servers/${seg(s.name)}/general` }, s.name)),
		h('td', null, stateBadge(s.state)),
		h('td.listen', null, (s.listen || []).map(l => h('div', null, l))),
		COUNTERS.map(([k]) => h('td.num', null, fmtCount(k === 'sessions' ? s.sessions : c[k]))),
		h('td.actions-cell', null, serverActions(s.name, s.state, refresh)));
}
