/* The Nexus Sprint Planning page (templates/events/planning.html).
 *
 * Drag and drop (the Product Owner and the Nexus Integration Team into every lane; a team's
 * representative into their own team's lane, `data-drop="1"`): a PBI dragged from the Product Backlog
 * list into a team lane is planned for that team (POST item + team to data-plan-url); dragged from one
 * lane into another it gets the second team's square too; dragged from a lane back onto the Product
 * Backlog list it leaves that lane (POST to data-unplan-url). A lane without `data-drop` takes no drop
 * and gives no card back to the Product Backlog (its cards may still be dragged into a lane of yours:
 * your team's square on that PBI). The server decides anyway (403 for another team's lane) and answers
 * the whole board part (#plan-board), swapped in by htmx, so the page always shows the truth.
 *
 * Without a mouse: every PBI has a team select and a Plan button, every lane card a × button (plain
 * htmx forms that also work without JavaScript).
 *
 * A refused change (400, 403, 409) comes back as the part with the message in it: swap it anyway.
 */
(function () {
  "use strict";

  document.body.addEventListener("htmx:beforeSwap", (e) => {
    const s = e.detail.xhr.status;
    if (s === 400 || s === 403 || s === 409 || s === 412) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });

  const status = () => document.getElementById("plan-status");
  function say(text) {
    const box = status();
    if (!box) return;
    box.textContent = "";
    window.setTimeout(() => { box.textContent = text; }, 30);
  }

  function post(board, url, values) {
    board.classList.add("is-busy");
    htmx.ajax("POST", url, { source: board, target: "#plan-board", swap: "outerHTML", values: values });
  }

  let sortables = [];
  function init() {
    const board = document.getElementById("plan-board");
    if (!board || board.dataset.bound === "1") return;
    board.dataset.bound = "1";
    sortables.forEach((s) => s.destroy());
    sortables = [];
    if (board.dataset.canPlan !== "1" || typeof Sortable === "undefined") return;
    const common = { animation: 120, sort: false, ghostClass: "plan-ghost", chosenClass: "plan-chosen", filter: "form, select, button, .lane-empty", preventOnFilter: false, draggable: ".plan-card" };
    const source = board.querySelector(".candidates");
    if (source) {
      sortables.push(Sortable.create(source, {
        ...common,
        // Back onto the Product Backlog only from a lane of yours (taking the card out of that lane).
        group: { name: "plan", pull: "clone", put: (to, from) => from.el.dataset.drop === "1" },
        onAdd: (evt) => {
          const item = evt.item.dataset.item;
          const team = evt.from.dataset.lane;
          evt.item.remove();
          if (!item || !team || team === "backlog") return;
          say("Taking the PBI out of the lane…");
          post(board, board.dataset.unplanUrl, { item: item, team: team });
        },
      }));
    }
    board.querySelectorAll(".lane-list").forEach((lane) => {
      sortables.push(Sortable.create(lane, {
        ...common,
        group: { name: "plan", pull: "clone", put: lane.dataset.drop === "1" },
        onAdd: (evt) => {
          const item = evt.item.dataset.item;
          const team = lane.dataset.lane;
          evt.item.remove();
          if (!item || !team) return;
          say("Planning the PBI…");
          post(board, board.dataset.planUrl, { item: item, team: team });
        },
      }));
    });
  }

  document.addEventListener("DOMContentLoaded", init);
  document.body.addEventListener("htmx:load", init);
  if (document.readyState !== "loading") init();
})();
