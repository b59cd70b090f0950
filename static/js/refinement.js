// The Cross-Team Refinement board (events/views_refinement.py): a refused write (400/403/409) answers
// the board with the message; swap it in like a success. Keep keyboard focus on the row written.
(() => {
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    const s = e.detail.xhr.status;
    if (s === 400 || s === 403 || s === 409 || s === 412) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  let lastRow = null;
  document.body.addEventListener("htmx:beforeRequest", (e) => {
    const row = e.target.closest && e.target.closest("tr[data-item]");
    lastRow = row ? row.id : null;
  });
  document.body.addEventListener("htmx:afterSwap", () => {
    if (!lastRow) return;
    const row = document.getElementById(lastRow);
    const focus = row && (row.querySelector("[role=alert]") ? row.querySelector("input, button") : null);
    if (focus) focus.focus();
  });
})();
