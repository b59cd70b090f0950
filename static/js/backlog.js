/* The Product Backlog page (templates/backlog/backlog.html).
 *
 * Ordering (Product Owner only): drag a row by its handle (the vendored Sortable), or focus the handle
 * and press Arrow Up / Arrow Down (one place), Home / End (top / bottom); the row's "⋯" menu has "Move
 * to position…". Each move is POSTed at once to <item>/move/ with the page's token; the server answers
 * the moved row when the page was showing the truth (positions are then shifted here) or the whole
 * re-rendered list when it was not. A refused move (400, 403) shows its message in the page and the
 * list is re-rendered from the server. Children placed under their parent move with it.
 *
 * Everyone: rows load as the list scrolls (HTMX "revealed"), a title opens the side panel, a parent's
 * triangle collapses its children (remembered per browser), filters re-render the list.
 */
(function () {
  "use strict";

  // Forms answer 409 (edited meanwhile) and 422 (invalid) with the form to show again; 400 and 403
  // with a message for the alert area.
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    const s = e.detail.xhr.status;
    if (s === 409 || s === 422) { e.detail.shouldSwap = true; e.detail.isError = false; }
    else if ((s === 400 || s === 403) && document.getElementById("backlog-alert")) {
      e.detail.shouldSwap = false;
      const box = document.getElementById("backlog-alert");
      box.innerHTML = e.detail.xhr.responseText + '<button type="button" class="alert-close" aria-label="Dismiss">×</button>';
      box.hidden = false;
    }
  });

  const root = document.getElementById("backlog");
  if (!root) return;

  const canOrder = root.dataset.canOrder === "1";
  const itemUrl = root.dataset.itemUrl;
  const rowsUrl = root.dataset.rowsUrl;
  const pageSize = parseInt(root.dataset.pageSize, 10) || 250;
  const statusBox = document.getElementById("backlog-status");
  const alertBox = document.getElementById("backlog-alert");
  const panel = document.getElementById("side-panel");
  const menu = document.getElementById("row-menu");
  const dialog = document.getElementById("move-dialog");
  const collapsedKey = "backlog-collapsed:" + root.dataset.slug;

  // ----- helpers -------------------------------------------------------------------------------------
  const wrap = () => document.getElementById("backlog-list");
  const list = () => { const w = wrap(); return w ? w.querySelector("ol.pbi-list") : null; };
  const rows = () => { const l = list(); return l ? Array.from(l.querySelectorAll(":scope > li.pbi")) : []; };
  const rowById = (id) => (id ? document.getElementById("pbi-" + id) : null);
  const isRow = (el) => !!el && !!el.classList && el.classList.contains("pbi");
  const depth = (el) => parseInt(el.dataset.depth || "0", 10);
  const posOf = (el) => parseInt(el.dataset.pos || "0", 10);
  const shown = (el) => el.style.display !== "none";
  const titleOf = (el) => { const a = el && el.querySelector(".pbi-link"); return a ? a.textContent.trim() : "the item"; };
  const filtered = () => !!(wrap() && wrap().dataset.filtered);

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }
  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content;
  }
  function say(text) {
    statusBox.textContent = "";
    window.setTimeout(() => { statusBox.textContent = text; }, 30);
  }
  function showAlert(html) {
    alertBox.innerHTML = html + '<button type="button" class="alert-close" aria-label="Dismiss">×</button>';
    alertBox.hidden = false;
  }
  function clearAlert() { alertBox.hidden = true; alertBox.innerHTML = ""; }
  alertBox.addEventListener("click", (e) => { if (e.target.closest(".alert-close")) clearAlert(); });

  /** Rows directly under `el` that are deeper than it: its children (and theirs), which move with it. */
  function subtree(el) {
    const out = [];
    const d = depth(el);
    let n = el.nextElementSibling;
    while (isRow(n) && depth(n) > d) { out.push(n); n = n.nextElementSibling; }
    return out;
  }
  function lastOf(el) { const s = subtree(el); return s.length ? s[s.length - 1] : el; }
  /** Put `el` and its family rows directly after `ref` (or first in the list when ref is null). */
  function placeAfter(el, family, ref) {
    if (ref) ref.after(el); else list().prepend(el);
    let a = el;
    family.forEach((r) => { a.after(r); a = r; });
  }
  function prevShownRow(el) {
    let p = el.previousElementSibling;
    while (p && (!isRow(p) || !shown(p))) p = p.previousElementSibling;
    return p;
  }
  function nextShownRow(el) {
    let n = el.nextElementSibling;
    while (n && isRow(n) && !shown(n)) n = n.nextElementSibling;
    return isRow(n) ? n : null;
  }
  function focusHandle(id) {
    const el = rowById(id);
    if (!el) return;
    const h = el.querySelector(".handle");
    if (h) { h.focus({ preventScroll: true }); el.scrollIntoView({ block: "nearest" }); }
  }

  // ----- collapsing children -------------------------------------------------------------------------
  function collapsedSet() {
    try { return new Set(JSON.parse(localStorage.getItem(collapsedKey) || "[]")); } catch (e) { return new Set(); }
  }
  function saveCollapsed(set) {
    try { localStorage.setItem(collapsedKey, JSON.stringify(Array.from(set))); } catch (e) { /* private mode */ }
  }
  function setCollapsed(el, collapsed) {
    const tw = el.querySelector(".twisty");
    if (tw) tw.setAttribute("aria-expanded", collapsed ? "false" : "true");
    el.classList.toggle("collapsed", collapsed);
    const d = depth(el);
    let hideBelow = null;
    for (let n = el.nextElementSibling; isRow(n) && depth(n) > d; n = n.nextElementSibling) {
      if (collapsed || (hideBelow !== null && depth(n) > hideBelow)) { n.style.display = "none"; continue; }
      hideBelow = n.classList.contains("collapsed") ? depth(n) : null;
      n.style.display = "";
    }
  }
  function restoreCollapsed() {
    const set = collapsedSet();
    if (!set.size) return;
    rows().forEach((r) => { if (r.dataset.children && set.has(r.dataset.id)) setCollapsed(r, true); });
  }

  // ----- the list: (re)initialise, re-render from the server -------------------------------------------
  let sortable = null;
  let boundList = null;

  function initList() {
    const ol = list();
    if (!ol || ol === boundList) return;
    boundList = ol;
    restoreCollapsed();
    if (!canOrder || typeof Sortable === "undefined") return;
    if (sortable) sortable.destroy();
    sortable = Sortable.create(ol, {
      handle: ".handle",
      draggable: ".pbi",
      animation: 120,
      ghostClass: "pbi-ghost",
      chosenClass: "pbi-chosen",
      scrollSensitivity: 90,
      scrollSpeed: 18,
      onStart: onDragStart,
      onEnd: onDragEnd,
    });
  }

  function replaceList(html) {
    const fresh = fragment(html).querySelector("#backlog-list");
    const old = wrap();
    if (!fresh || !old) return;
    const y = window.scrollY;
    old.replaceWith(fresh);
    window.htmx.process(fresh);
    initList();
    window.scrollTo(0, y);
  }

  async function refreshList(focusId) {
    const w = wrap();
    if (!w) return;
    const qs = new URLSearchParams(w.dataset.filterQs || "");
    qs.set("wrap", "1");
    qs.set("limit", String(Math.max(rows().length, pageSize)));
    const resp = await fetch(rowsUrl + "?" + qs.toString(), { credentials: "same-origin" });
    if (!resp.ok) return;
    replaceList(await resp.text());
    if (focusId) focusHandle(focusId);
  }

  // ----- moves ---------------------------------------------------------------------------------------
  let queue = Promise.resolve();
  const pending = {}; // moves queued per item id

  /** Save a move of `el`: params {before, after, position}; opts {refresh, focus}. Moves are sent one
   * after the other, each with the token the previous answer gave. */
  function send(el, params, opts) {
    const id = el.dataset.id;
    const title = titleOf(el);
    pending[id] = (pending[id] || 0) + 1;
    queue = queue
      .then(() => post(id, title, params, opts || {}))
      .catch(() => {
        showAlert('<p class="errornote">The move could not be saved (no answer from the server). The list shows the saved order.</p>');
        return refreshList(id);
      })
      .finally(() => { pending[id] -= 1; });
    return queue;
  }

  async function post(id, title, params, opts) {
    const w = wrap();
    const body = new URLSearchParams(w.dataset.filterQs || "");
    Object.entries(params).forEach(([k, v]) => { if (v !== undefined && v !== null && v !== "") body.set(k, String(v)); });
    body.set("token", w.dataset.token || "");
    body.set("loaded", String(rows().length));
    if (opts.refresh) body.set("refresh", "1");
    const resp = await fetch(itemUrl + id + "/move/", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    });
    const html = await resp.text();
    if (!resp.ok) {
      showAlert(html);
      await refreshList(opts.focus ? id : null);
      return;
    }
    clearAlert();
    const token = resp.headers.get("X-Backlog-Token") || "";
    const to = resp.headers.get("X-Backlog-To");
    const total = wrap().dataset.openTotal;
    if (resp.headers.get("X-Backlog-Mode") === "row") {
      const from = parseInt(resp.headers.get("X-Backlog-From") || "0", 10);
      const toPos = parseInt(to || "0", 10);
      const current = rowById(id);
      const before = rowById(resp.headers.get("X-Backlog-Before"));
      const after = rowById(resp.headers.get("X-Backlog-After"));
      const fresh = fragment(html).querySelector("li.pbi");
      if (!current || !fresh || (!before && !after) || before === current || after === current) {
        wrap().dataset.token = token;
        await refreshList(opts.focus ? id : null);
      } else {
        // A later move of the page is queued already: it will place the row; do not undo its preview.
        if (pending[id] <= 1) { if (before) before.before(current); else after.after(current); }
        shiftPositions(current, from, toPos);
        const hadFocus = current.contains(document.activeElement);
        current.replaceWith(fresh);
        wrap().dataset.token = token;
        if (opts.focus || hadFocus) focusHandle(id);
      }
    } else {
      replaceList(html);
      if (opts.focus) focusHandle(id);
    }
    say("Moved “" + title + "” to position " + to + " of " + total + ".");
  }

  /** After a move of `moved` from position `from` to `to`, every row between shifts by one place. */
  function shiftPositions(moved, from, to) {
    if (from === to) return;
    rows().forEach((r) => {
      if (r === moved) return;
      const p = posOf(r);
      let q = p;
      if (from < to && p > from && p <= to) q = p - 1;
      else if (to < from && p >= to && p < from) q = p + 1;
      if (q !== p) { r.dataset.pos = String(q); r.querySelector(".c-pos").textContent = String(q); }
    });
  }

  const family = (el) => !!(el && (el.dataset.parent || el.dataset.children || depth(el) > 0));

  function moveUp(el) {
    const d = depth(el);
    let p = el.previousElementSibling;
    while (isRow(p) && depth(p) > d) p = p.previousElementSibling;
    if (!isRow(p)) { say(filtered() ? "Already the first item shown." : "Already at the top."); return; }
    const fam = subtree(el);
    placeAfter(el, fam, p.previousElementSibling);
    focusHandle(el.dataset.id);
    send(el, { before: p.dataset.id }, { focus: true, refresh: fam.length > 0 || family(el) });
  }

  function moveDown(el) {
    const fam = subtree(el);
    const n = (fam.length ? fam[fam.length - 1] : el).nextElementSibling;
    if (!isRow(n)) {
      if (!document.getElementById("backlog-more")) { say("Already at the bottom."); return; }
      if (filtered()) { say("Load more rows to move it further down."); return; }
      send(el, { position: posOf(el) + 1 }, { focus: true, refresh: true });
      return;
    }
    const anchor = lastOf(n);
    placeAfter(el, fam, anchor);
    focusHandle(el.dataset.id);
    send(el, { after: anchor.dataset.id }, { focus: true, refresh: fam.length > 0 || family(el) || family(n) });
  }

  function moveTo(el, position) {
    const fam = subtree(el);
    if (position === "top" && !filtered()) { placeAfter(el, fam, null); focusHandle(el.dataset.id); }
    send(el, { position: position }, { focus: true, refresh: fam.length > 0 || family(el) });
  }

  // Drag and drop --------------------------------------------------------------------------------------
  let drag = null;
  let pointer = { x: -1, y: -1 };
  const track = (e) => { pointer = { x: e.clientX, y: e.clientY }; };
  document.addEventListener("dragover", track, true);
  document.addEventListener("pointermove", track, true);

  function onDragStart(evt) {
    hideMenu(false);
    const el = evt.item;
    const fam = subtree(el);
    fam.forEach((r) => { r.dataset.display = r.style.display; r.style.display = "none"; });
    drag = { el: el, fam: fam, prev: el.previousElementSibling, next: el.nextElementSibling };
  }

  function onDragEnd() {
    const d = drag;
    drag = null;
    if (!d) return;
    window.setTimeout(loadHeldBack, 0);
    const el = d.el;
    const more = document.getElementById("backlog-more");
    const r = more ? more.getBoundingClientRect() : null;
    const onMore = !!r && pointer.x >= r.left && pointer.x <= r.right && pointer.y >= r.top - 4 && pointer.y <= r.bottom + 4;
    const prev = prevShownRow(el);
    const next = nextShownRow(el);
    const moved = el.previousElementSibling !== d.prev || el.nextElementSibling !== d.next;
    const restore = () => d.fam.forEach((f) => { f.style.display = f.dataset.display || ""; delete f.dataset.display; });
    if (onMore) {
      placeAfter(el, d.fam, d.prev);
      restore();
      askPosition(el, Math.min(parseInt(wrap().dataset.openTotal, 10), rows().length + 1));
      return;
    }
    placeAfter(el, d.fam, el.previousElementSibling);
    restore();
    if (!moved || (!prev && !next)) return;
    const refresh = d.fam.length > 0 || family(el) || (next && depth(next) > 0) || (prev && !!prev.dataset.children);
    send(el, { before: next ? next.dataset.id : null, after: prev ? prev.dataset.id : null }, { focus: false, refresh: refresh });
  }

  // Keyboard on the handle ------------------------------------------------------------------------------
  root.addEventListener("keydown", (e) => {
    const h = e.target.closest && e.target.closest(".handle");
    if (!h || !canOrder || e.altKey || e.metaKey) return;
    const el = h.closest(".pbi");
    const keys = { ArrowUp: () => moveUp(el), ArrowDown: () => moveDown(el), Home: () => moveTo(el, "top"), End: () => moveTo(el, "bottom") };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });

  // ----- the row menu and the position dialog ----------------------------------------------------------
  let menuButton = null;

  function showMenu(btn) {
    const el = btn.closest(".pbi");
    menu.dataset.id = el.dataset.id;
    menu.hidden = false;
    const r = btn.getBoundingClientRect();
    menu.style.top = window.scrollY + r.bottom + 4 + "px";
    menu.style.left = Math.max(8, window.scrollX + r.right - menu.offsetWidth) + "px";
    menuButton = btn;
    btn.setAttribute("aria-expanded", "true");
    const ready = menu.querySelector("[data-act=ready]");
    if (ready) ready.hidden = !!el.querySelector(".c-col.is-ready");
    menu.querySelector("[role=menuitem]").focus();
  }
  function hideMenu(restoreFocus) {
    if (!menu || menu.hidden) return;
    menu.hidden = true;
    if (menuButton) {
      menuButton.setAttribute("aria-expanded", "false");
      if (restoreFocus && document.body.contains(menuButton)) menuButton.focus();
    }
  }

  function addUnder(el) {
    document.querySelectorAll("li.pbi-new").forEach((n) => n.remove());
    const tpl = document.getElementById("tpl-add-under");
    const li = document.createElement("li");
    li.className = "pbi-new";
    li.appendChild(tpl.content.cloneNode(true));
    li.querySelector("input[name=under]").value = el.dataset.id;
    const input = li.querySelector("input[name=title]");
    input.id = "new-under-" + el.dataset.id;
    li.querySelector("label").htmlFor = input.id;
    lastOf(el).after(li);
    window.htmx.process(li);
    input.focus();
  }

  function act(name, el) {
    if (!el) return;
    const id = el.dataset.id;
    const actions = {
      edit: () => openPanel(itemUrl + id + "/"),
      split: () => openPanel(itemUrl + id + "/").then(() => window.htmx.ajax("GET", itemUrl + id + "/split/", { target: "#sp-split" })),
      "add-under": () => addUnder(el),
      top: () => moveTo(el, "top"),
      bottom: () => moveTo(el, "bottom"),
      up: () => moveUp(el),
      down: () => moveDown(el),
      position: () => askPosition(el, posOf(el)),
      ready: () => window.htmx.ajax("POST", itemUrl + id + "/ready/", { source: el, swap: "none" }),
    };
    if (actions[name]) actions[name]();
  }

  if (menu) {
    menu.addEventListener("click", (e) => {
      const b = e.target.closest("[data-act]");
      if (!b) return;
      const el = rowById(menu.dataset.id);
      hideMenu(false);
      act(b.dataset.act, el);
    });
    menu.addEventListener("keydown", (e) => {
      const items = Array.from(menu.querySelectorAll("[role=menuitem]:not([hidden])"));
      const i = items.indexOf(document.activeElement);
      if (e.key === "Escape") { e.preventDefault(); hideMenu(true); }
      else if (e.key === "ArrowDown") { e.preventDefault(); items[(i + 1) % items.length].focus(); }
      else if (e.key === "ArrowUp") { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
      else if (e.key === "Tab") hideMenu(false);
    });
  }

  function askPosition(el, suggestion) {
    if (!dialog) return;
    const total = wrap().dataset.openTotal;
    dialog.dataset.id = el.dataset.id;
    document.getElementById("move-dialog-what").textContent =
      "“" + titleOf(el) + "” is at position " + el.dataset.pos + " of " + total + ".";
    const input = document.getElementById("move-pos");
    input.max = total;
    input.value = String(suggestion || posOf(el));
    dialog.showModal();
    input.select();
  }
  if (dialog) {
    const input = document.getElementById("move-pos");
    document.getElementById("move-dialog-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const n = parseInt(input.value, 10);
      if (!(n >= 1)) { input.setCustomValidity("A position is a whole number from 1."); input.reportValidity(); return; }
      input.setCustomValidity("");
      dialog.close();
      const el = rowById(dialog.dataset.id);
      if (el) send(el, { position: n }, { focus: true, refresh: family(el) || subtree(el).length > 0 });
    });
    dialog.querySelector("[data-close]").addEventListener("click", () => { dialog.close(); focusHandle(dialog.dataset.id); });
  }

  // ----- side panel -----------------------------------------------------------------------------------
  let opener = null;

  function openPanel(url) {
    opener = document.activeElement;
    return window.htmx.ajax("GET", url, { target: "#side-panel", swap: "innerHTML" });
  }
  function closePanel() {
    panel.hidden = true;
    document.body.classList.remove("panel-open");
    if (opener && document.body.contains(opener)) opener.focus();
  }

  // ----- delegated clicks -----------------------------------------------------------------------------
  document.addEventListener("click", (e) => {
    const t = e.target;
    if (menu && !menu.hidden && !menu.contains(t) && !t.closest(".menu-btn")) hideMenu(false);
    const link = t.closest("a.pbi-link");
    if (link && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.button === 0) {
      e.preventDefault();
      openPanel(link.getAttribute("href"));
      return;
    }
    const btn = t.closest(".menu-btn");
    if (btn) { e.preventDefault(); if (menu.hidden || menuButton !== btn) showMenu(btn); else hideMenu(true); return; }
    const tw = t.closest(".twisty");
    if (tw) {
      const el = tw.closest(".pbi");
      const set = collapsedSet();
      const collapse = tw.getAttribute("aria-expanded") !== "false";
      setCollapsed(el, collapse);
      if (collapse) set.add(el.dataset.id); else set.delete(el.dataset.id);
      saveCollapsed(set);
      return;
    }
    if (t.closest(".sp-close")) { closePanel(); return; }
    if (t.closest("[data-cancel-under]")) { const li = t.closest("li.pbi-new"); if (li) li.remove(); }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && panel && !panel.hidden && panel.contains(document.activeElement)) closePanel();
  });

  // ----- HTMX: status codes, refreshes, load more -------------------------------------------------------
  // No rows are loaded while an item is dragged (the list must hold still, and "load more" is a drop
  // target then); a load held back happens when the drag ends.
  let heldBack = false;
  document.body.addEventListener("htmx:beforeRequest", (e) => {
    if (drag && e.detail.elt && e.detail.elt.id === "backlog-more") { e.preventDefault(); heldBack = true; }
  });
  function loadHeldBack() {
    const more = document.getElementById("backlog-more");
    if (!heldBack || !more) return;
    heldBack = false;
    const r = more.getBoundingClientRect();
    if (r.top < window.innerHeight && r.bottom > 0) window.htmx.trigger(more, "loadmore");
  }
  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (e.detail.target === panel) {
      panel.hidden = false;
      document.body.classList.add("panel-open");
      const h = panel.querySelector("#sp-title");
      if (h && !panel.contains(document.activeElement)) h.focus();
    }
  });
  let stale = false;
  document.body.addEventListener("htmx:afterRequest", (e) => {
    const elt = e.detail.elt;
    if (elt && elt.id === "backlog-more" && wrap()) {
      const t = e.detail.xhr.getResponseHeader("X-Backlog-Token");
      if (t && t !== wrap().dataset.token) stale = true;
    }
  });
  document.body.addEventListener("htmx:afterSettle", () => {
    if (list() !== boundList) initList();
    else restoreCollapsed();
    if (stale) { stale = false; refreshList(); }
  });
  document.body.addEventListener("htmx:historyRestore", () => { boundList = null; initList(); });
  document.body.addEventListener("backlog-changed", (e) => {
    const detail = e.detail || {};
    refreshList(detail.focus || null);
  });

  initList();
})();
