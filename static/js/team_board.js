/* The team board (templates/events/team_board.html).
 *
 * Move a card to another column of the team's board: drag it (the vendored Sortable), or focus it and
 * press Shift + Arrow Left / Shift + Arrow Right (one column), or use its buttons (plain forms that htmx
 * posts). Every move is POSTed to the board's move URL and the server answers the whole board, which
 * replaces the old one; the moved card gets the focus back. A refused move (400, 403, 409, 412) shows
 * its message and the board is fetched again from the server.
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
    } else if (s < 300) {
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
    if (card) {
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
    const column = button.form.querySelector("input[name=column]").value;
    move(card, column);
  });

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
