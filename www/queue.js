// queue.js — the queue view: messages waiting for delivery (GET /api/queue,
// polled), filtered by server, state, domain and sender; hold, release,
// flush, delete and bounce per message; a message's envelope and header
// (GET /api/queue/ID) in a dialog.
//
// Delete and bounce cannot be undone and are confirmed first. Actions are
// offered only on messages accepted by a server the role may manage.

import { ApiError, canManage, get, post, seg } from './api.js';
import { fill, fmtBytes, fmtCount, fmtSpan, fmtTime, h, nowSeconds, poll, syncRows } from './dom.js';
import { banner, confirmAction, notify, notifyError } from './ui.js';

const POLL_MS = 5000;

const STATES = [['', 'Any state'], ['pending', 'Pending'], ['deferred', 'Deferred'], ['held', 'Held']];

const VERBS = {
	hold: { label: 'Hold', done: 'held' },
	release: { label: 'Release', done: 'released' },
	flush: { label: 'Flush', done: 'flushed: delivery is tried now' },
	delete: { label: 'Delete', done: 'deleted', confirm: 'Delete the message without telling its sender? This cannot be undone.' },
	bounce: { label: 'Bounce', done: 'returned to its sender', confirm: 'Return the message to its sender with a failure report? Every pending recipient fails. This cannot be undone.' },
};

export function showQueue(view)
{
	const filter = { server: '', state: '', domain: '', sender: '' };
	const serverSel = h('select#q-server', { name: 'server' }, h('option', { value: '' }, 'All servers'));
	const stateSel = h('select#q-state', { name: 'state' }, STATES.map(([v, l]) => h('option', { value: v }, l)));
	const domain = h('input#q-domain', { name: 'domain', type: 'text', placeholder: 'example.com', spellcheck: 'false', autocomplete: 'off' });
	const sender = h('input#q-sender', { name: 'sender', type: 'text', placeholder: 'user@example.com', spellcheck: 'false', autocomplete: 'off' });
	const form = h('form.filters', { 'aria-label': 'Filter the queue', onsubmit: apply },
		h('div', null, h('label', { for: 'q-server' }, 'Server'), serverSel),
		h('div', null, h('label', { for: 'q-state' }, 'State'), stateSel),
		h('div', null, h('label', { for: 'q-domain' }, 'Recipient domain'), domain),
		h('div', null, h('label', { for: 'q-sender' }, 'Sender'), sender),
		h('div.filter-buttons', null,
			h('button.primary', { type: 'submit' }, 'Apply'),
			h('button', { type: 'button', onclick: clear }, 'Clear')));
	serverSel.addEventListener('change', apply);
	stateSel.addEventListener('change', apply);

	const summary = h('p.sub', { 'aria-live': 'polite' });
	const tbody = h('tbody');
	const empty = h('p.empty', { hidden: true });
	const table = h('table.grid.queue', { 'aria-label': 'Queued messages' },
		h('thead', null, h('tr', null,
			['Message', 'Arrived', 'Server', 'Sender', 'Recipients', 'Size', 'Status'].map(t => h('th', { scope: 'col' }, t)),
			h('th', { scope: 'col' }, h('span.sr-only', null, 'Actions')))),
		tbody);
	fill(view,
		h('div.page-head', null, h('h1', null, 'Queue'), summary),
		h('div.card', null, form),
		h('div.card', null, table, empty));

	let serverNames = null;
	const refresh = async () => {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(filter))
			if (v)
				q.set(k, v);
		let list;
		try {
			if (serverNames === null) {
				serverNames = (await get('/api/servers')).map(s => s.name);
				serverSel.append(...serverNames.map(n => h('option', { value: n }, n)));
			}
			list = await get('/api/queue' + (q.toString() ? '?' + q : ''));
		} catch (e) {
			if (e instanceof ApiError && e.status !== 401)
				banner(e.message);
			return;
		}
		banner(null);
		const filtered = Object.values(filter).some(Boolean);
		const n = list.length === 1 ? '1 message' : `${fmtCount(list.length)} messages`;
		const where = filtered ? (list.length === 1 ? 'matches the filter' : 'match the filter') : 'in the queue';
		summary.textContent = `${n} ${where}; refreshed every few seconds.`;
		empty.textContent = filtered ? 'No message matches the filter.' : 'The queue is empty.';
		empty.hidden = list.length > 0;
		table.hidden = list.length === 0;
		syncRows(tbody, list, m => m.id, m => row(m, refresh));
	};

	function apply(ev)
	{
		if (ev)
			ev.preventDefault();
		filter.server = serverSel.value;
		filter.state = stateSel.value;
		filter.domain = domain.value.trim();
		filter.sender = sender.value.trim();
		refresh();
	}

	function clear()
	{
		serverSel.value = stateSel.value = domain.value = sender.value = '';
		apply();
	}

	return poll(refresh, POLL_MS);
}

function recipientLine(r)
{
	let detail = r.state;
	if (r.tries)
		detail += `, ${r.tries} ${r.tries === 1 ? 'try' : 'tries'}`;
	if (r.next_try && (r.state === 'deferred' || r.state === 'warned'))
		detail += r.next_try > nowSeconds() ? `, next in ${fmtSpan(r.next_try - nowSeconds())}` : ', next now';
	return h('li', null, h('span.addr', null, r.address), ' ', h('span.rstate.rstate-' + r.state, null, detail));
}

function senderText(s)
{
	return s === '' ? '<> (report)' : s;
}

function row(m, refresh)
{
	const manage = canManage(m.server);
	const act = verb => h('button', {
		type: 'button', class: verb === 'delete' || verb === 'bounce' ? 'danger-outline' : '',
		'aria-label': `${VERBS[verb].label} ${m.id}`,
		disabled: verb === 'flush' && m.held,
		onclick: () => queueAction(m.id, verb, refresh),
	}, VERBS[verb].label);
	return h('tr', { class: m.held ? 'held' : '' },
		h('th', { scope: 'row' }, h('button.link.mono', { type: 'button', 'aria-label': `Details of ${m.id}`, onclick: () => details(m.id) }, m.id)),
		h('td.nowrap', null, fmtTime(m.arrival)),
		h('td', null, m.server || '–'),
		h('td.addr', null, senderText(m.sender)),
		h('td', null, h('ul.rcpts', null, (m.recipients || []).map(recipientLine))),
		h('td.num', null, fmtBytes(m.size)),
		h('td', null, h('span.state.' + (m.held ? 'state-held' : 'state-queued'), null, m.held ? 'held' : 'queued')),
		h('td.actions-cell', null, manage
			? h('div.actions', null, act(m.held ? 'release' : 'hold'), act('flush'), act('delete'), act('bounce'))
			: null));
}

async function queueAction(id, verb, refresh)
{
	const v = VERBS[verb];
	if (v.confirm && !await confirmAction(`${v.label} message ${id}?`, v.confirm, v.label))
		return;
	try {
		await post(`/api/queue/${seg(id)}/${verb}`);
		notify(`Message ${id} ${v.done}.`);
	} catch (e) {
		notifyError(e.message);
	}
	refresh();
}

async function details(id)
{
	let dlg = document.getElementById('message-dialog');
	if (!dlg) {
		dlg = h('dialog#message-dialog.dialog.wide', { 'aria-labelledby': 'message-title' });
		document.body.append(dlg);
	}
	const close = h('button', { type: 'button', onclick: () => dlg.close() }, 'Close');
	fill(dlg, h('h2#message-title', null, 'Message ', h('span.mono', null, id)), h('p.loading', null, 'Loading…'),
		h('div.dialog-buttons', null, close));
	dlg.showModal();
	let m;
	try {
		m = await get(`/api/queue/${seg(id)}`);
	} catch (e) {
		fill(dlg.querySelector('p'), h('span.error', { role: 'alert' }, e.message));
		return;
	}
	fill(dlg,
		h('h2#message-title', null, 'Message ', h('span.mono', null, m.id)),
		h('dl.facts', null,
			h('dt', null, 'Server'), h('dd', null, m.server || '–'),
			h('dt', null, 'Sender'), h('dd.addr', null, senderText(m.sender)),
			h('dt', null, 'Arrived'), h('dd', null, fmtTime(m.arrival)),
			h('dt', null, 'Size'), h('dd', null, fmtBytes(m.size)),
			h('dt', null, 'Status'), h('dd', null, m.held ? 'held' : 'queued')),
		h('table.grid.compact', { 'aria-label': 'Recipients' },
			h('thead', null, h('tr', null, ['Recipient', 'State', 'Tries', 'Next try'].map(t => h('th', { scope: 'col' }, t)))),
			h('tbody', null, (m.recipients || []).map(r => h('tr', null,
				h('td.addr', null, r.address), h('td', null, r.state), h('td.num', null, String(r.tries)),
				h('td', null, r.next_try ? fmtTime(r.next_try) : '–'))))),
		h('h3', null, 'Header'),
		h('pre.headers', { tabindex: '0', 'aria-label': 'Message header' }, m.headers || ''),
		h('div.dialog-buttons', null, close));
	close.focus();
}
