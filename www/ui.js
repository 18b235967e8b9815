// ui.js — pieces every view uses: notices, the connection banner, the
// confirmation dialog, state badges and the start / stop / pause / resume
// buttons of a virtual server.
//
// Notices are short success messages (role=status); errors stay until the
// admin closes them (role=alert), and keep the daemon's text as it came,
// line breaks included.

import { canManage, post, seg } from './api.js';
import { h } from './dom.js';

const NOTICE_MS = 6000;

export function notify(text)
{
	const box = document.getElementById('notices');
	const n = h('div.notice.ok', null, h('span', null, text));
	box.append(n);
	setTimeout(() => n.remove(), NOTICE_MS);
}

export function notifyError(text)
{
	const box = document.getElementById('notices');
	const n = h('div.notice.bad', { role: 'alert' },
		h('pre.error-text', null, text),
		h('button.quiet', { type: 'button', onclick: () => n.remove() }, 'Dismiss'));
	box.append(n);
}

export function clearNotices()
{
	document.getElementById('notices').replaceChildren();
}

// The banner says the console cannot be reached (polls failing); null hides it.
export function banner(text)
{
	const b = document.getElementById('banner');
	b.textContent = text || '';
	b.hidden = !text;
}

// Asks before something that cannot be undone; resolves to true when confirmed.
export function confirmAction(title, text, okLabel)
{
	const dlg = document.getElementById('confirm');
	document.getElementById('confirm-title').textContent = title;
	document.getElementById('confirm-text').textContent = text;
	document.getElementById('confirm-ok').textContent = okLabel;
	dlg.returnValue = '';
	return new Promise(resolve => {
		dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
		dlg.showModal();
	});
}

export function stateBadge(state)
{
	return h('span.state.state-' + state, null, state);
}

const ACTIONS = {
	running: [['pause', 'Pause'], ['stop', 'Stop']],
	paused: [['resume', 'Resume'], ['stop', 'Stop']],
	stopped: [['start', 'Start']],
};

const DONE = { start: 'started', stop: 'stopped', pause: 'paused', resume: 'resumed' };

// The buttons that make sense for a server in state, or nothing when the
// role may not use them. after() runs once an action succeeded or failed.
export function serverActions(name, state, after)
{
	if (!canManage(name))
		return null;
	const buttons = (ACTIONS[state] || []).map(([verb, label]) =>
		h('button', {
			type: 'button',
			class: verb === 'stop' ? 'danger-outline' : '',
			'aria-label': `${label} ${name}`,
			onclick: async ev => {
				ev.currentTarget.disabled = true;
				try {
					await post(`/api/servers/${seg(name)}/${verb}`);
					notify(`Server ${name} ${DONE[verb]}.`);
				} catch (e) {
					notifyError(e.message);
				}
				after();
			},
		}, label));
	return h('div.actions', null, buttons);
}
