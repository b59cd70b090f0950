// The Dependency board (events/views_dependencies.py): draws one SVG path per dependency between the
// cards of its two PBIs (class "late" for a late one: red), and highlights a PBI's whole chain (every
// PBI it depends on or that depends on it, transitively) when its card is focused or clicked.
// The team filter sends its form when changed (a listener here: the Content Security Policy allows no
// inline on* handlers).
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form && select.form.submit());
}

(() => {
  const data = document.getElementById("dep-lines-data");
  const svg = document.getElementById("dep-lines");
  const wrap = document.getElementById("depboard-wrap");
  if (!data || !svg || !wrap) return;
  const lines = JSON.parse(data.textContent || "[]");
  // Lines only (not the arrowheads' paths in <defs>) carry data-dependency.
  const NS = "http://www.w3.org/2000/svg";

  function centre(el, box) {
    const r = el.getBoundingClientRect();
    return { x: r.left - box.left + wrap.scrollLeft, y: r.top - box.top + wrap.scrollTop, w: r.width, h: r.height };
  }

  function draw() {
    const box = wrap.getBoundingClientRect();
    svg.setAttribute("width", wrap.scrollWidth);
    svg.setAttribute("height", wrap.scrollHeight);
    svg.replaceChildren();
    // Arrowheads at the end of each line: the PBI depended on (red for a late dependency).
    const defs = document.createElementNS(NS, "defs");
    for (const [id, colour] of [["dep-arrow", "#3b5bab"], ["dep-arrow-late", "#d32f2f"]]) {
      const marker = document.createElementNS(NS, "marker");
      marker.setAttribute("id", id);
      marker.setAttribute("viewBox", "0 0 10 10");
      marker.setAttribute("refX", "9");
      marker.setAttribute("refY", "5");
      marker.setAttribute("markerWidth", "7");
      marker.setAttribute("markerHeight", "7");
      marker.setAttribute("orient", "auto-start-reverse");
      const tip = document.createElementNS(NS, "path");
      tip.setAttribute("d", "M0,0 L10,5 L0,10 z");
      tip.setAttribute("fill", colour);
      marker.appendChild(tip);
      defs.appendChild(marker);
    }
    svg.appendChild(defs);
    for (const line of lines) {
      const a = document.getElementById(line.from), b = document.getElementById(line.to);
      if (!a || !b) continue;
      const p = centre(a, box), q = centre(b, box);
      // Cards in the same Sprint: a bracket out of their right edges. Else from the facing edges: the
      // dependent's left edge to the depended-on card's right edge (on time: it comes earlier), or the
      // dependent's right edge to the later card's left edge (late).
      let x1, x2, c1, c2;
      const y1 = p.y + p.h / 2, y2 = q.y + q.h / 2;
      if (Math.abs(p.x - q.x) < 8) {
        x1 = p.x + p.w; x2 = q.x + q.w;
        const out = Math.max(x1, x2) + 28 + Math.min(60, Math.abs(y2 - y1) / 4);
        c1 = out; c2 = out;
      } else if (q.x < p.x) {
        x1 = p.x; x2 = q.x + q.w;
        const dx = Math.max(30, (x1 - x2) / 2);
        c1 = x1 - dx; c2 = x2 + dx;
      } else {
        x1 = p.x + p.w; x2 = q.x;
        const dx = Math.max(30, (x2 - x1) / 2);
        c1 = x1 + dx; c2 = x2 - dx;
      }
      const path = document.createElementNS(NS, "path");
      path.setAttribute("d", `M${x1},${y1} C${c1},${y1} ${c2},${y2} ${x2},${y2}`);
      path.setAttribute("data-dependency", line.id);
      path.setAttribute("data-from", line.from);
      path.setAttribute("data-to", line.to);
      const cls = [];
      if (line.late) cls.push("late");
      if (line.kind === "integrates_with") cls.push("integrates");
      if (cls.length) path.setAttribute("class", cls.join(" "));
      if (line.kind !== "integrates_with") path.setAttribute("marker-end", `url(#${line.late ? "dep-arrow-late" : "dep-arrow"})`);
      svg.appendChild(path);
    }
  }

  function chain(itemId) {
    const next = new Map();
    for (const l of lines) {
      const a = document.getElementById(l.from)?.dataset.item, b = document.getElementById(l.to)?.dataset.item;
      if (!a || !b) continue;
      if (!next.has(a)) next.set(a, []);
      if (!next.has(b)) next.set(b, []);
      next.get(a).push(b); next.get(b).push(a);
    }
    const seen = new Set([itemId]), stack = [itemId];
    while (stack.length) for (const n of next.get(stack.pop()) || []) if (!seen.has(n)) { seen.add(n); stack.push(n); }
    return seen;
  }

  function highlight(itemId) {
    const members = itemId ? chain(itemId) : new Set();
    for (const card of document.querySelectorAll(".dep-card")) card.classList.toggle("chain", members.has(card.dataset.item));
  }

  document.addEventListener("focusin", (e) => { if (e.target.classList?.contains("dep-card")) highlight(e.target.dataset.item); });
  document.addEventListener("click", (e) => {
    const card = e.target.closest?.(".dep-card");
    if (card) { e.preventDefault(); highlight(card.dataset.item); }
  });
  window.addEventListener("resize", draw);
  draw();
})();
