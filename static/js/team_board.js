/* The team board (templates/events/team_board.html).
 *
 * Move a card to another column of the team's board: drag it (the vendored Sortable), or focus it and
 * press Shift + Arrow Left / Shift + Arrow Right (one column), or use its buttons (plain forms that htmx
 * posts). Every move is POSTed to the board's move URL and the server answers the whole board, which
 * replaces the old one; the moved card gets the focus back. A refused move (400, 403, 409, 412) shows
 * its message and the board is fetched again from the server.
 *
 * The board is live: every second (`data-poll-ms`) it asks the Nexus's change counter
 * (`/n/<slug>/changes/?since=<seq>`, 204 when nothing changed) and, on a change made anywhere (another
 * Developer's move, a square filled on the Nexus Sprint Backlog, the API), fetches the board again and
 * swaps it in place, keeping the scroll position and the focused card. It waits while a card is being
 * dragged, the task dialog is open, a request is in flight or a field of the board is being edited.
 */
(function () {
  "use strict";

  const alertBox = document.getElementById("board-alert");
  const statusBox = document.getElementById("board-status");
  let focusAfter = null;

  const board = () => document.getElementById("team-board");

  function say(text) {
    statusBox.textContent = "";
    window.setTimeout(() => { statusBox.textContent = text; }, 30);
  }

  function reload() {
    const b = board();
    if (b) htmx.ajax("GET", b.dataset.boardUrl, { target: "#team-board", swap: "outerHTML" });
  }

  function move(card, columnId) {
    focusAfter = card.dataset.item;
    htmx.ajax("POST", board().dataset.moveUrl, {
      target: "#team-board",
      swap: "outerHTML",
      values: { item: card.dataset.item, column: columnId, version: card.dataset.version },
    });
  }

  document.body.addEventListener("htmx:beforeSwap", (e) => {
    const s = e.detail.xhr.status;
    if (s >= 400 && s < 500) {
      e.detail.shouldSwap = false;
      alertBox.innerHTML = e.detail.xhr.responseText;
      alertBox.hidden = false;
      reload();
    } else if (s < 300 && e.detail.requestConfig && e.detail.requestConfig.verb !== "get") {
      // a write that succeeded clears the last refusal; a refresh (after it, or live) keeps it shown
      alertBox.hidden = true;
      alertBox.innerHTML = "";
    }
  });

  document.body.addEventListener("htmx:beforeRequest", (e) => {
    const card = e.target.closest && e.target.closest(".team-card");
    if (card) focusAfter = card.dataset.item;
  });

  document.body.addEventListener("htmx:afterSettle", () => {
    setUp();
    if (!focusAfter) return;
    const card = document.getElementById("tcard-" + focusAfter);
    focusAfter = null;
    if (card && quiet) {
      quiet = false;
      card.focus({ preventScroll: true });
    } else if (card) {
      card.focus();
      const col = card.closest(".board-col").querySelector("h2").textContent.trim();
      say(card.querySelector(".card-title").textContent.trim() + " is in " + col + ".");
    }
  });

  document.addEventListener("keydown", (e) => {
    const card = e.target.closest && e.target.closest(".team-card");
    if (!card || e.target !== card || !e.shiftKey) return;
    const which = e.key === "ArrowLeft" ? ".move-left" : e.key === "ArrowRight" ? ".move-right" : "";
    const button = which && card.querySelector(which);
    if (!button) return;
    e.preventDefault();
    move(card, button.value);
  });

  // "+ Add a task" on a card opens the board's one task form (a link to the card's own form without
  // JavaScript); the answer replaces the board and closes the dialog.
  const dialog = document.getElementById("task-dialog");
  document.addEventListener("click", (e) => {
    const link = e.target.closest && e.target.closest(".add-task-link");
    if (link && dialog) {
      e.preventDefault();
      const form = dialog.querySelector("form");
      form.reset();
      form.elements.namedItem("item").value = link.dataset.item;
      document.getElementById("task-dialog-item").textContent = link.dataset.title;
      focusAfter = link.dataset.item;
      dialog.showModal();
      form.elements.namedItem("title").focus();
    } else if (e.target.closest && e.target.closest("[data-close]")) {
      dialog.close();
    }
  });
  document.body.addEventListener("htmx:afterRequest", (e) => {
    if (dialog && dialog.open && dialog.contains(e.target)) dialog.close();
  });

  // Live updates (see the top of the file).
  let quiet = false; // a refresh keeps the focus where it was, without announcing a move
  let inFlight = 0;
  document.body.addEventListener("htmx:beforeRequest", () => { inFlight += 1; });
  document.body.addEventListener("htmx:afterRequest", () => { inFlight = Math.max(0, inFlight - 1); });

  function busy() {
    const b = board();
    const active = document.activeElement;
    return !b || inFlight > 0 || (dialog && dialog.open) || document.querySelector(".sortable-chosen") !== null ||
      (active && b.contains(active) && active.matches("input, select, textarea"));
  }

  function refresh() {
    const active = document.activeElement;
    const card = active && active.closest && active.closest(".team-card");
    if (card && active === card) { focusAfter = card.dataset.item; quiet = true; }
    const y = window.scrollY;
    const x = window.scrollX;
    htmx.ajax("GET", board().dataset.boardUrl, { target: "#team-board", swap: "outerHTML" })
      .then(() => window.scrollTo(x, y), () => {});
  }

  function tick() {
    const b = board();
    const pollMs = (b && parseInt(b.dataset.pollMs, 10)) || 1000;
    if (!b || busy()) { window.setTimeout(tick, pollMs); return; }
    fetch(b.dataset.changesUrl + "?since=" + encodeURIComponent(b.dataset.seq), { credentials: "same-origin", cache: "no-store" })
      .then((r) => (r.status === 200 ? r.json() : null))
      .then((data) => { const now = board(); if (data && now && String(data.seq) !== now.dataset.seq && !busy()) refresh(); })
      .catch(() => {})
      .finally(() => window.setTimeout(tick, pollMs));
  }
  if (board()) window.setTimeout(tick, 1000);

  function setUp() {
    const b = board();
    if (!b || b.dataset.canMove !== "1" || b.dataset.sortable === "1" || typeof Sortable === "undefined") return;
    b.dataset.sortable = "1";
    b.querySelectorAll("ol.cards[data-column]").forEach((list) => {
      Sortable.create(list, {
        group: "team-board",
        draggable: ".team-card",
        filter: "button, input, select, summary, label, a",
        preventOnFilter: false,
        animation: 120,
        onEnd: (evt) => {
          if (evt.from === evt.to) return;
          move(evt.item, evt.to.dataset.column);
        },
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
  window.addEventListener("load", setUp);
})();
