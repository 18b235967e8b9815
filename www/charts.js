// charts.js — messages per minute over the last hour (GET /api/history,
// polled): accepted, delivered, deferred and bounced, for one virtual server
// or all of them added up, as an SVG line chart with a legend and, for
// screen readers and exact figures, the same numbers as a table.
//
// The history holds 60 one-minute buckets, oldest first; the last is the
// minute in progress, so its counts still grow.

import { ApiError, get } from './api.js';
import { fill, fmtClock, fmtCount, h, poll } from './dom.js';
import { banner } from './ui.js';

const POLL_MS = 10000;
const SERIES = [
	['accepted', 'Accepted'],
	['delivered', 'Delivered'],
	['deferred', 'Deferred'],
	['bounced', 'Bounced'],
];

const W = 1000, H = 300;
const M = { left: 48, right: 16, top: 14, bottom: 30 };

export function showCharts(view)
{
	const pick = h('select#c-server', null, h('option', { value: '' }, 'All servers'));
	const legend = h('ul.legend', { 'aria-label': 'Legend' });
	const chart = h('div.chart');
	const tableBox = h('div.table-scroll');
	fill(view,
		h('div.page-head.with-actions', null,
			h('div', null, h('h1', null, 'Messages per minute'),
				h('p.sub', null, 'The last hour, one point a minute; the last minute is still running.')),
			h('div.inline-field', null, h('label', { for: 'c-server' }, 'Server'), pick)),
		h('div.card', null, chart, legend),
		h('details.card', null, h('summary', null, 'Figures as a table'), tableBox));

	let last = null;
	let names = [];
	pick.addEventListener('change', () => draw());

	const refresh = async () => {
		try {
			last = await get('/api/history');
		} catch (e) {
			if (e instanceof ApiError && e.status !== 401)
				banner(e.message);
			return;
		}
		banner(null);
		const fresh = Object.keys(last.servers || {}).sort();
		if (fresh.join('\n') !== names.join('\n')) {
			names = fresh;
			const keep = pick.value;
			fill(pick, h('option', { value: '' }, 'All servers'), names.map(n => h('option', { value: n }, n)));
			pick.value = names.includes(keep) ? keep : '';
		}
		draw();
	};

	function draw()
	{
		if (last === null)
			return;
		const minutes = last.minute || [];
		const data = series(last.servers || {}, pick.value, minutes.length);
		const label = pick.value ? `server ${pick.value}` : 'all servers';
		fill(chart, svgChart(minutes, data, label));
		fill(legend, SERIES.map(([k, name]) => h('li', null,
			h('span.swatch.swatch-' + k, { 'aria-hidden': 'true' }), h('span.series-name', null, name),
			h('span.total', null, `${fmtCount(sum(data[k]))} in the hour`))));
		fill(tableBox, figures(minutes, data));
	}

	return poll(refresh, POLL_MS);
}

function sum(a)
{
	return a.reduce((x, y) => x + y, 0);
}

// {kind: [n per minute]} for server name, or every server added up when name is ''.
function series(servers, name, n)
{
	const out = {};
	for (const [k] of SERIES)
		out[k] = new Array(n).fill(0);
	for (const [srv, s] of Object.entries(servers)) {
		if (name && srv !== name)
			continue;
		for (const [k] of SERIES)
			(s[k] || []).forEach((v, i) => {
				if (i < n)
					out[k][i] += v;
			});
	}
	return out;
}

// The smallest 1, 2 or 5 times a power of ten that splits max into at most five steps.
function niceStep(max)
{
	const rough = Math.max(max, 1) / 5;
	const pow = Math.pow(10, Math.floor(Math.log10(rough)));
	const step = [1, 2, 5, 10].map(m => m * pow).find(s => s >= rough);
	return Math.max(1, step);
}

function svg(tag, attrs, ...children)
{
	const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
	for (const [k, v] of Object.entries(attrs || {}))
		node.setAttribute(k, String(v));
	for (const c of children)
		node.append(c);
	return node;
}

function svgChart(minutes, data, label)
{
	const n = minutes.length;
	const peak = Math.max(0, ...SERIES.map(([k]) => Math.max(0, ...data[k])));
	const step = niceStep(peak);
	const top = Math.max(step, Math.ceil(peak / step) * step);
	const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
	const x = i => M.left + (n > 1 ? i * pw / (n - 1) : 0);
	const y = v => M.top + ph - v * ph / top;

	const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg',
		'aria-label': `Messages per minute over the last hour, ${label}; the table below has the figures` });
	for (let v = 0; v <= top; v += step) {
		root.append(svg('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: v ? 'gridline' : 'axis' }));
		root.append(svg('text', { x: M.left - 8, y: y(v) + 4, class: 'tick y' }, fmtCount(v)));
	}
	minutes.forEach((t, i) => {
		if (t % 600 === 0 || i === n - 1) {
			root.append(svg('line', { x1: x(i), x2: x(i), y1: M.top + ph, y2: M.top + ph + 5, class: 'axis' }));
			root.append(svg('text', { x: x(i), y: H - 8, class: 'tick x' }, i === n - 1 ? 'now' : fmtClock(t)));
		}
	});
	for (const [k, name] of SERIES) {
		const pts = data[k].map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
		const g = svg('g', { class: 'series series-' + k });
		g.append(svg('polyline', { points: pts }));
		data[k].forEach((v, i) => {
			if (v > 0)
				g.append(svg('circle', { cx: x(i), cy: y(v), r: 2.5 },
					svg('title', null, `${fmtClock(minutes[i])} ${name.toLowerCase()}: ${v}`)));
		});
		root.append(g);
	}
	return root;
}

function figures(minutes, data)
{
	const rows = [];
	for (let i = minutes.length - 1; i >= 0; i--)
		rows.push(h('tr', null, h('th', { scope: 'row' }, fmtClock(minutes[i])),
			SERIES.map(([k]) => h('td.num', null, fmtCount(data[k][i])))));
	return h('table.grid.compact', null,
		h('caption.sr-only', null, 'Messages per minute, newest first'),
		h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Minute'),
			SERIES.map(([, name]) => h('th.num', { scope: 'col' }, name)))),
		h('tbody', null, rows));
}
