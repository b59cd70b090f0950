/* The Nexus Sprint Backlog page (templates/events/sprint_backlog.html): it updates itself while open.
 *
 * Every second it asks the Nexus's change counter (`/n/<slug>/changes/?since=<seq>`: 204 when nothing
 * changed, 200 {"seq"} when something did). On a change it fetches the page's `body` part with the
 * filters the page shows now (htmx, `HX-Request`) and swaps it in place, keeping the window's scroll
 * position and each group's own scroll position. When another Sprint becomes active (or none is),
 * the whole page reloads.
 */
(function () {
  "use strict";

  const root = document.getElementById("sprint-backlog");
  if (!root) return;
  const changesUrl = root.dataset.changesUrl;
  const pollMs = parseInt(root.dataset.pollMs, 10) || 1000;
  const live = document.getElementById("sb-live");
  const body = () => document.getElementById("sb-body");
  const first = body();
  let seq = first ? first.dataset.seq : "0";
  const sprint = first ? first.dataset.sprint : "";
  let busy = false;
  let saved = null;

  function setLive(ok) {
    if (live) live.classList.toggle("offline", !ok);
  }

  function bodyUrl() {
    const form = document.getElementById("sb-filters");
    const params = form ? new URLSearchParams(new FormData(form)) : new URLSearchParams(window.location.search);
    for (const [k, v] of Array.from(params.entries())) if (!v) params.delete(k);
    const qs = params.toString();
    return window.location.pathname + (qs ? "?" + qs : "");
  }

  // Keep where the reader is: the window's scroll and each group's list scroll.
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    if (!e.detail.target || e.detail.target.id !== "sb-body") return;
    const lists = {};
    e.detail.target.querySelectorAll(".sb-group").forEach((g) => {
      const ol = g.querySelector(".cards");
      if (ol) lists[g.getAttribute("aria-labelledby")] = ol.scrollTop;
    });
    saved = { x: window.scrollX, y: window.scrollY, lists: lists };
  });
  document.body.addEventListener("htmx:afterSettle", () => {
    const b = body();
    if (!b) return;
    if (b.dataset.sprint !== sprint) { window.location.reload(); return; }
    if (b.dataset.seq) seq = b.dataset.seq;
    if (saved) {
      b.querySelectorAll(".sb-group").forEach((g) => {
        const top = saved.lists[g.getAttribute("aria-labelledby")];
        const ol = g.querySelector(".cards");
        if (ol && top) ol.scrollTop = top;
      });
      window.scrollTo(saved.x, saved.y);
      saved = null;
    }
  });

  function refresh() {
    busy = true;
    htmx.ajax("GET", bodyUrl(), { source: root, target: "#sb-body", swap: "outerHTML" })
      .then(() => { busy = false; }, () => { busy = false; });
  }

  function tick() {
    if (busy) { window.setTimeout(tick, pollMs); return; }
    fetch(changesUrl + "?since=" + encodeURIComponent(seq), { credentials: "same-origin", cache: "no-store" })
      .then((r) => {
        setLive(r.ok);
        if (r.status === 200) return r.json().then((data) => { if (String(data.seq) !== seq) refresh(); });
        return null;
      })
      .catch(() => setLive(false))
      .finally(() => window.setTimeout(tick, pollMs));
  }
  window.setTimeout(tick, pollMs);
})();
