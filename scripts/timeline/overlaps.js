// Run in a real browser over a figure of `process timeline` inlined in a page: every text's,
// marker's, arrowhead's and CS bar's box as the browser laid it out, and every text that
// meets another box (or an arrowhead that meets a CS bar), or runs off the figure. Prints into
// <pre id="out">.
(function () {
  const out = [];
  const svg = document.querySelector('svg');
  const pt = (x, y, m) => { const p = svg.createSVGPoint(); p.x = x; p.y = y; return p.matrixTransform(m); };
  const page = (el) => { const b = el.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const boxes = [];
  const add = (kind, b, what) => boxes.push({ kind, b, what });
  for (const t of svg.querySelectorAll('text')) add('text', page(t), t.textContent);
  for (const el of svg.querySelectorAll('circle, rect.int, rect.def, path.lost, g.ev > line')) {
    const b = page(el);
    // A line's box has no width: its stroke has.
    if (b[2] - b[0] < 1) { b[0] -= 0.75; b[2] += 0.75; }
    add('marker', b, el.closest('g') ? (el.closest('g').querySelector('title') || {}).textContent : el.tagName);
  }
  for (const el of svg.querySelectorAll('rect.cs, rect.use')) add('bar', page(el), 'CS bar');
  let heads = 0;
  for (const l of svg.querySelectorAll('line[marker-end]')) {
    const m = l.getScreenCTM();
    const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((a) => +l.getAttribute(a));
    const d = Math.hypot(x2 - x1, y2 - y1) || 1;
    const [ux, uy] = [(x2 - x1) / d, (y2 - y1) / d];
    // The marker: 10 units drawn over 6 x stroke-width px, its tip 1 unit past the end.
    const len = 6 * parseFloat(getComputedStyle(l).strokeWidth);
    const tip = [x2 + ux * len / 10, y2 + uy * len / 10];
    const back = [tip[0] - ux * len, tip[1] - uy * len];
    const ps = [tip, [back[0] - uy * len / 2, back[1] + ux * len / 2], [back[0] + uy * len / 2, back[1] - ux * len / 2]]
      .map(([x, y]) => pt(x, y, m));
    const xs = ps.map((p) => p.x), ys = ps.map((p) => p.y);
    heads++;
    add('arrowhead', [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)],
      (l.closest('g').querySelector('title') || {}).textContent);
  }
  const meet = (a, b) => a[0] + 0.5 < b[2] && b[0] + 0.5 < a[2] && a[1] + 0.5 < b[3] && b[1] + 0.5 < a[3];
  let n = 0;
  const short = (s) => (s || '').split('\n')[0].slice(0, 80);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const kinds = [a.kind, b.kind].sort().join('+');
      if (!(a.kind === 'text' || b.kind === 'text' || kinds === 'arrowhead+bar')) continue;
      if (!meet(a.b, b.b)) continue;
      n++;
      if (n <= 40) out.push(`OVERLAP ${a.kind} "${short(a.what)}" ${a.b.map(Math.round)} meets ${b.kind} "${short(b.what)}" ${b.b.map(Math.round)}`);
    }
  }
  // And no text runs off the figure (cut off where the SVG ends).
  const sb = svg.getBoundingClientRect();
  for (const t of boxes.filter((x) => x.kind === 'text')) {
    const b = t.b;
    if (b[0] < sb.left - 0.5 || b[2] > sb.right + 0.5 || b[1] < sb.top - 0.5 || b[3] > sb.bottom + 0.5) {
      n++;
      if (n <= 40) out.push(`OFF THE FIGURE text "${short(t.what)}" ${b.map(Math.round)} in ${Math.round(sb.width)}x${Math.round(sb.height)}`);
    }
  }
  // Which font the texts got: "REQ(T=1)" at 11 px is 54.8 px wide in DejaVu Sans.
  const probe = document.createElementNS('http://www.w3.org/2000/svg', 'text');
  probe.setAttribute('class', 'lbl');
  probe.textContent = 'REQ(T=1)';
  svg.appendChild(probe);
  out.push(`PROBE ${probe.getComputedTextLength().toFixed(1)}`);
  probe.remove();
  const sizes = [...svg.querySelectorAll('text')].map((t) => parseFloat(getComputedStyle(t).fontSize));
  out.push(`TEXTS ${sizes.length} SMALLEST ${Math.min(...sizes)} ARROWHEADS ${heads} BOXES ${boxes.length}`);
  out.push(`WIDTH ${svg.getAttribute('width')}`);
  out.push(`OVERLAPS ${n}`);
  document.getElementById('out').textContent = out.join('\n');
})();
