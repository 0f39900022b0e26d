/**
 * The report's only script: zoom and pan of the graph views, the colour-mode switch, and the
 * node tooltip. Plain ES2017 for any current browser; it builds every piece of the tooltip with
 * textContent and createElementNS, never from HTML strings, so names from user models cannot
 * inject markup. Events are delegated to each view, so graphs of thousands of nodes cost a handful
 * of listeners.
 */
export const GRAPH_SCRIPT = `(function () {
  'use strict';
  var SVG_NS = 'http://www.w3.org/2000/svg';
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVG_NS, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function fmtInt(v) { return Number(v).toLocaleString('en-US'); }
  function fmtSigned(v, d) { var s = Number(v).toFixed(d); return v > 0 ? '+' + s : s; }
  function fmtS(v) { return String(Number(v)); }

  function seriesChart(series, thresholds) {
    var w = 240, h = 64, pad = 4;
    var values = series.values;
    var svg = svgEl('svg', { width: w, height: h, viewBox: '0 0 ' + w + ' ' + h, class: 'graph-series' });
    if (values.length === 0) return svg;
    var isCos = series.kind === 'step-cosine';
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (isCos) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); for (var i = 0; i < thresholds.length; i++) { lo = Math.min(lo, thresholds[i]); } }
    else { lo = 0; hi = Math.max(hi, 1e-9); }
    if (hi - lo < 1e-9) { hi = lo + 1e-9; }
    var y = function (v) { return pad + (h - 2 * pad) * (1 - (v - lo) / (hi - lo)); };
    var x = function (i) { return pad + (w - 2 * pad) * (values.length === 1 ? 0.5 : i / (values.length - 1)); };
    svg.appendChild(svgEl('rect', { x: 0, y: 0, width: w, height: h, fill: '#f7f8fa' }));
    if (isCos) {
      svg.appendChild(svgEl('line', { x1: pad, x2: w - pad, y1: y(0), y2: y(0), stroke: '#1d2330', 'stroke-width': 0.8 }));
      if (thresholds.length > 0) svg.appendChild(svgEl('line', { x1: pad, x2: w - pad, y1: y(thresholds[0]), y2: y(thresholds[0]), stroke: '#d1495b', 'stroke-width': 0.8, 'stroke-dasharray': '3 2' }));
    }
    var d = '';
    for (var j = 0; j < values.length; j++) d += (j === 0 ? 'M' : 'L') + x(j).toFixed(1) + ' ' + y(values[j]).toFixed(1);
    svg.appendChild(svgEl('path', { d: d, fill: 'none', stroke: '#4269d0', 'stroke-width': 1.5 }));
    if (values.length === 1) svg.appendChild(svgEl('circle', { cx: x(0), cy: y(values[0]), r: 2.5, fill: '#4269d0' }));
    return svg;
  }

  function tooltipContent(info, S) {
    var box = document.createDocumentFragment();
    box.appendChild(el('div', 'graph-tip-title', info.label));
    var kind = info.kind === 'layer' ? 'layer' : info.kind === 'op' ? 'op' : info.kind;
    var ops = [info.op].concat(info.folded || []).join(' + ');
    box.appendChild(el('div', 'graph-tip-line', kind + ' · ' + ops));
    if (info.params > 0) box.appendChild(el('div', 'graph-tip-line', fmtInt(info.params) + ' parameters'));
    if (info.copyFor !== undefined) box.appendChild(el('div', 'graph-tip-line graph-tip-copy', 'per-task copy for ' + info.copyFor + ' (made by the rewrite)'));
    if (info.task !== undefined) box.appendChild(el('div', 'graph-tip-line', 'output of task ' + info.task));
    else if (info.tasks.length > 0) box.appendChild(el('div', 'graph-tip-line', 'reaches ' + info.tasks.join(', ')));
    if (info.members > 1) {
      // Expandable: the ONNX nodes compacted into this box (click the node to pin the tooltip first).
      var details = el('details', 'graph-tip-members');
      details.appendChild(el('summary', '', info.members + ' ONNX nodes'));
      var list = el('ul');
      var names = info.memberNames || [];
      for (var m = 0; m < names.length; m++) list.appendChild(el('li', '', names[m]));
      if (info.members > names.length) list.appendChild(el('li', 'graph-tip-muted', '… and ' + (info.members - names.length) + ' more'));
      details.appendChild(list);
      box.appendChild(details);
    }
    var f = info.layer;
    if (!f) {
      if (info.kind === 'layer') box.appendChild(el('div', 'graph-tip-line graph-tip-muted', 'not shared by the tasks: no conflict score'));
      return box;
    }
    if (f.name !== info.label) box.appendChild(el('div', 'graph-tip-line graph-tip-muted', 'numbers of ' + f.name + (f.source === 'before' ? ' before the rewrite' : '')));
    var table = el('table', 'graph-tip-table');
    var addRow = function (k, v) { var tr = el('tr'); tr.appendChild(el('th', '', k)); tr.appendChild(el('td', '', v)); table.appendChild(tr); };
    for (var i = 0; i < f.scores.length; i++) addRow('score at S = ' + fmtS(f.scores[i][0]), fmtInt(f.scores[i][1]) + '  (rank ' + f.scores[i][2] + ' of ' + f.layerCount + ')');
    for (var p = 0; p < f.pairs.length; p++) addRow('mean cos ' + f.pairs[p][0].split('|').join(' / '), fmtSigned(f.pairs[p][1], 4));
    if (f.pairs.length > 1) addRow('mean cos, all pairs', fmtSigned(f.meanCosine, 4));
    box.appendChild(table);
    var caption = f.series.kind === 'step-cosine' ? 'cosine per step (mean over pairs)' : 'share of cosines < 0 per epoch';
    if (f.series.kind !== 'step-cosine' && f.series.values.length < 2) caption += ' (scan with --record-steps for the per-step cosine series)';
    box.appendChild(el('div', 'graph-tip-caption', caption));
    box.appendChild(seriesChart(f.series, S));
    return box;
  }

  function setup(root) {
    var svg = root.querySelector('svg.graph');
    var viewport = root.querySelector('.graph-viewport');
    var tip = root.querySelector('.graph-tip');
    if (!svg || !viewport || !tip) return;
    var S = JSON.parse(root.getAttribute('data-thresholds') || '[]');
    var full = { x: 0, y: 0, w: Number(svg.getAttribute('data-width')), h: Number(svg.getAttribute('data-height')) };
    var view = { x: full.x, y: full.y, w: full.w, h: full.h };
    function apply() { svg.setAttribute('viewBox', view.x + ' ' + view.y + ' ' + view.w + ' ' + view.h); }
    function toGraph(clientX, clientY) {
      var m = svg.getScreenCTM();
      if (!m) return { x: view.x + view.w / 2, y: view.y + view.h / 2 };
      var pt = svg.createSVGPoint();
      pt.x = clientX; pt.y = clientY;
      var q = pt.matrixTransform(m.inverse());
      return { x: q.x, y: q.y };
    }
    function zoom(factor, at) {
      var w = view.w * factor, h = view.h * factor;
      // Not closer than 8x the natural size nor farther than 4x the whole graph.
      var minW = Math.max(20, full.w / 400), maxW = full.w * 4;
      if (w < minW) { factor = minW / view.w; w = minW; h = view.h * factor; }
      if (w > maxW) { factor = maxW / view.w; w = maxW; h = view.h * factor; }
      view.x = at.x - (at.x - view.x) * factor;
      view.y = at.y - (at.y - view.y) * factor;
      view.w = w; view.h = h;
      apply();
    }
    function centre() { return { x: view.x + view.w / 2, y: view.y + view.h / 2 }; }
    root.addEventListener('click', function (ev) {
      var b = ev.target.closest && ev.target.closest('button[data-zoom]');
      if (!b) return;
      var z = b.getAttribute('data-zoom');
      if (z === 'in') zoom(1 / 1.5, centre());
      else if (z === 'out') zoom(1.5, centre());
      else { view = { x: full.x, y: full.y, w: full.w, h: full.h }; apply(); }
    });
    viewport.addEventListener('wheel', function (ev) {
      ev.preventDefault();
      var factor = Math.exp(Math.max(-0.5, Math.min(0.5, ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015))));
      zoom(factor, toGraph(ev.clientX, ev.clientY));
    }, { passive: false });

    var drag = null;
    var pinned = null;
    // A pinned tooltip is interactive (its node list expands): pointer events on it are its own.
    var onTip = function (ev) { return !!(ev.target.closest && ev.target.closest('.graph-tip')); };
    viewport.addEventListener('pointerdown', function (ev) {
      if (ev.button !== 0 || onTip(ev)) return;
      drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y, moved: false, id: ev.pointerId };
    });
    viewport.addEventListener('pointermove', function (ev) {
      if (drag && drag.id === ev.pointerId) {
        var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        if (!drag.moved && Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; viewport.setPointerCapture(ev.pointerId); viewport.classList.add('dragging'); hide(); }
        if (drag.moved) {
          var m = svg.getScreenCTM();
          var scale = m ? m.a : 1;
          view.x = drag.vx - dx / scale; view.y = drag.vy - dy / scale;
          apply();
        }
        return;
      }
      if (pinned || onTip(ev)) return;
      var node = ev.target.closest ? ev.target.closest('g.gnode') : null;
      if (node) show(node, ev); else hide();
    });
    function endDrag(ev) {
      if (!drag || drag.id !== ev.pointerId) return;
      var wasDrag = drag.moved;
      drag = null;
      viewport.classList.remove('dragging');
      if (wasDrag) return;
      var node = ev.target.closest ? ev.target.closest('g.gnode') : null;
      if (node) { pinned = null; show(node, ev); pinned = node; root.classList.add('pinned'); }
      else { pinned = null; root.classList.remove('pinned'); hide(); }
    }
    viewport.addEventListener('pointerup', endDrag);
    viewport.addEventListener('pointercancel', function () { drag = null; viewport.classList.remove('dragging'); });
    viewport.addEventListener('pointerleave', function () { if (!pinned && !drag) hide(); });
    document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') { pinned = null; root.classList.remove('pinned'); hide(); } });

    var shown = null;
    function show(node, ev) {
      if (shown !== node) {
        var info;
        try { info = JSON.parse(node.getAttribute('data-info') || '{}'); } catch (e) { return; }
        while (tip.firstChild) tip.removeChild(tip.firstChild);
        var mode = Number(root.getAttribute('data-mode') || '0');
        tip.appendChild(tooltipContent(info, mode < S.length ? [S[mode]] : S.slice(0, 1)));
        if (shown) shown.classList.remove('hovered');
        node.classList.add('hovered');
        shown = node;
      }
      tip.hidden = false;
      var r = viewport.getBoundingClientRect();
      var left = ev.clientX - r.left + 14, top = ev.clientY - r.top + 14;
      var tw = tip.offsetWidth, th = tip.offsetHeight;
      if (left + tw > r.width - 4) left = Math.max(4, ev.clientX - r.left - tw - 14);
      if (top + th > r.height - 4) top = Math.max(4, r.height - th - 4);
      tip.style.left = left + 'px';
      tip.style.top = top + 'px';
    }
    function hide() {
      tip.hidden = true;
      if (shown) shown.classList.remove('hovered');
      shown = null;
    }

    var select = root.querySelector('select.graph-mode');
    if (select) select.addEventListener('change', function () {
      var mode = Number(select.value);
      var nodes = svg.querySelectorAll('g.gnode');
      for (var i = 0; i < nodes.length; i++) {
        var g = nodes[i];
        var fills = (g.getAttribute('data-fills') || '').split(' ');
        var inks = (g.getAttribute('data-inks') || '').split(' ');
        var box = g.querySelector('rect.gbox');
        if (box && fills[mode]) box.setAttribute('fill', fills[mode]);
        var texts = g.querySelectorAll('text');
        for (var t = 0; t < texts.length; t++) if (inks[mode]) texts[t].setAttribute('fill', inks[mode]);
      }
      var legends = root.querySelectorAll('[data-legend]');
      for (var l = 0; l < legends.length; l++) {
        if (legends[l].getAttribute('data-legend') === String(mode)) legends[l].removeAttribute('hidden');
        else legends[l].setAttribute('hidden', '');
      }
      root.setAttribute('data-mode', String(mode));
      pinned = null;
      root.classList.remove('pinned');
      hide();
    });
    apply();
    root.setAttribute('data-ready', 'true');
  }
  var roots = document.querySelectorAll('.graph-view');
  for (var i = 0; i < roots.length; i++) setup(roots[i]);
})();`;
