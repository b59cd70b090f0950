// The Dependency board (events/views_dependencies.py): draws one SVG path per dependency between the
// cards of its two PBIs (class "late" for a late one: red), and highlights a PBI's whole chain (every
// PBI it depends on or that depends on it, transitively) when its card is focused or clicked.
(() => {
  const data = document.getElementById("dep-lines-data");
  const svg = document.getElementById("dep-lines");
  const wrap = document.getElementById("depboard-wrap");
  if (!data || !svg || !wrap) return;
  const lines = JSON.parse(data.textContent || "[]");
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
    for (const line of lines) {
      const a = document.getElementById(line.from), b = document.getElementById(line.to);
      if (!a || !b) continue;
      const p = centre(a, box), q = centre(b, box);
      // From the dependent card's left edge to the depended-on card's right edge (or the reverse when
      // the depended-on card is to the right: a late dependency).
      const leftToRight = q.x + q.w <= p.x;
      const x1 = leftToRight ? p.x : p.x + p.w, y1 = p.y + p.h / 2;
      const x2 = leftToRight ? q.x + q.w : q.x, y2 = q.y + q.h / 2;
      const dx = Math.max(30, Math.abs(x2 - x1) / 2);
      const path = document.createElementNS(NS, "path");
      const c1 = leftToRight ? x1 - dx : x1 + dx, c2 = leftToRight ? x2 + dx : x2 - dx;
      path.setAttribute("d", `M${x1},${y1} C${c1},${y1} ${c2},${y2} ${x2},${y2}`);
      path.setAttribute("data-dependency", line.id);
      path.setAttribute("data-from", line.from);
      path.setAttribute("data-to", line.to);
      const cls = [];
      if (line.late) cls.push("late");
      if (line.kind === "integrates_with") cls.push("integrates");
      if (cls.length) path.setAttribute("class", cls.join(" "));
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
