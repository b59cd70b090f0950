/* The live Nexus board (templates/events/board.html, events/views_board.py).
 *
 * Polls the "changed since?" answer (`board/version/`, If-None-Match with the ETag of the board shown):
 * 304 = nothing changed; 200 with a new ETag = fetch the live part again (same filters: its URL carries
 * them) and swap it in, keeping the window's and every column's scroll position, the open/closed side
 * panels and the card panel (outside the swapped part). Every 1.2 to 1.8 s (jitter), so a change shows
 * within 2 s; slower (10 s) while the tab is hidden; on an error, exponential backoff with full jitter up
 * to 60 s, so that boards left open across a server restart come back spread out, not in a storm.
 * Also: "N more below" under each scrolling column, the timebox timer, walking the board with J/K/Esc,
 * opening a card's action panel. */
(function () {
  "use strict";
  var app = document.getElementById("board-app");
  if (!app) return;
  var liveBox = document.getElementById("board-live");
  var etag = app.dataset.etag || "";
  var live = app.dataset.live === "1";
  var drive = app.dataset.drive === "1";
  var failures = 0;
  var timer = null;
  var busy = false;

  function csrf() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function nextDelay() {
    if (failures > 0) {
      var cap = Math.min(60000, 2000 * Math.pow(2, failures));
      return 1000 + Math.random() * cap; // full jitter
    }
    if (document.hidden) return 8000 + Math.random() * 4000;
    return 1200 + Math.random() * 600;
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms === undefined ? nextDelay() : ms);
  }

  /* What a swap must keep: scroll of the window and of each column, which panels are open. */
  function remember() {
    var state = { x: window.scrollX, y: window.scrollY, cols: {}, panels: {} };
    liveBox.querySelectorAll(".cards[data-col]").forEach(function (ol) {
      state.cols[ol.dataset.col] = ol.scrollTop;
    });
    liveBox.querySelectorAll("details.panel[id]").forEach(function (d) {
      state.panels[d.id] = d.open;
    });
    var main = liveBox.querySelector(".board-main");
    state.mainX = main ? main.scrollLeft : 0;
    return state;
  }

  function restore(state) {
    liveBox.querySelectorAll(".cards[data-col]").forEach(function (ol) {
      if (state.cols[ol.dataset.col] !== undefined) ol.scrollTop = state.cols[ol.dataset.col];
    });
    liveBox.querySelectorAll("details.panel[id]").forEach(function (d) {
      if (state.panels[d.id] !== undefined) d.open = state.panels[d.id];
    });
    var main = liveBox.querySelector(".board-main");
    if (main) main.scrollLeft = state.mainX;
    window.scrollTo(state.x, state.y);
  }

  function refresh() {
    if (busy) return Promise.resolve();
    busy = true;
    return fetch(app.dataset.liveUrl, {
      headers: { "If-None-Match": etag, "HX-Request": "true" },
      credentials: "same-origin",
    })
      .then(function (r) {
        if (r.status === 304) {
          etag = r.headers.get("ETag") || etag;
          return;
        }
        if (!r.ok) throw new Error("board " + r.status);
        var newTag = r.headers.get("ETag") || "";
        return r.text().then(function (html) {
          var state = remember();
          liveBox.innerHTML = html;
          if (window.htmx) window.htmx.process(liveBox);
          restore(state);
          etag = newTag;
          afterRender();
        });
      })
      .finally(function () {
        busy = false;
      });
  }

  function poll() {
    if (!live) return;
    fetch(app.dataset.versionUrl, {
      headers: { "If-None-Match": etag },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (r) {
        if (r.status === 304 || r.status === 204) return; // nothing changed
        if (r.status === 200) {
          var tag = r.headers.get("ETag");
          if (tag && tag !== etag) return refresh();
          return;
        }
        throw new Error("version " + r.status);
      })
      .then(function () {
        failures = 0;
      })
      .catch(function () {
        failures += 1;
      })
      .finally(function () {
        schedule();
      });
  }

  /* "N more below" under each scrolling column: the cards below its visible part. */
  function updateBelow(ol) {
    var note = ol.parentElement.querySelector("[data-below]");
    if (!note) return;
    var bottom = ol.scrollTop + ol.clientHeight;
    var n = 0;
    ol.querySelectorAll(":scope > .card").forEach(function (li) {
      if (li.offsetTop - ol.offsetTop + 4 >= bottom) n += 1;
    });
    note.hidden = n === 0;
    note.textContent = n + " more below ↓";
  }

  function showWalk() {
    var current = liveBox.querySelector(".card.walk");
    if (!current) return;
    var ol = current.closest(".cards");
    if (ol) {
      var top = current.offsetTop - ol.offsetTop;
      if (top < ol.scrollTop || top + current.offsetHeight > ol.scrollTop + ol.clientHeight) {
        ol.scrollTop = Math.max(0, top - ol.clientHeight / 3);
      }
    }
    var main = liveBox.querySelector(".board-main");
    var col = current.closest(".board-col");
    if (main && col && (col.offsetLeft < main.scrollLeft || col.offsetLeft + col.offsetWidth > main.scrollLeft + main.clientWidth)) {
      main.scrollLeft = col.offsetLeft - 20;
    }
  }

  var lastWalk = null;
  function afterRender() {
    liveBox.querySelectorAll(".cards[data-col]").forEach(function (ol) {
      updateBelow(ol);
      ol.addEventListener("scroll", function () {
        updateBelow(ol);
      }, { passive: true });
    });
    var liveDiv = liveBox.querySelector(".live");
    var walk = liveDiv ? liveDiv.dataset.walk : "";
    if (walk && walk !== lastWalk) showWalk();
    lastWalk = walk;
    tick();
  }

  /* The 15-minute timebox timer (its start is the server's, so every viewer shows the same time). */
  function tick() {
    var liveDiv = liveBox.querySelector(".live");
    var out = liveBox.querySelector(".timer");
    if (!liveDiv || !out || !liveDiv.dataset.timerStart) return;
    var start = Date.parse(liveDiv.dataset.timerStart);
    var box = (parseInt(liveDiv.dataset.timebox, 10) || 15) * 60;
    var left = Math.round(box - (Date.now() - start) / 1000);
    if (left <= -3600) {
      out.textContent = "Last started " + new Date(start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      out.className = "timer";
      return;
    }
    var a = Math.abs(left);
    var text = Math.floor(a / 60) + ":" + String(a % 60).padStart(2, "0");
    out.textContent = left >= 0 ? text + " left" : "Over by " + text;
    out.className = "timer running" + (left < 0 ? " over" : left < 120 ? " ending" : "");
  }
  setInterval(tick, 1000);

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrf(), "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(body).toString(),
      credentials: "same-origin",
    }).then(function (r) {
      if (r.ok) refresh();
      return r;
    });
  }

  /* Walk the board: J (or →) next, K (or ←) back, Esc ends the walk. */
  document.addEventListener("keydown", function (e) {
    if (!drive || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    var step = null;
    if (e.key === "j" || e.key === "J" || e.key === "ArrowRight") step = "next";
    else if (e.key === "k" || e.key === "K" || e.key === "ArrowLeft") step = "prev";
    else if (e.key === "Escape" && !panel.hidden) {
      closePanel();
      return;
    } else if (e.key === "Escape") step = "stop";
    if (!step) return;
    e.preventDefault();
    post(app.dataset.walkUrl, { step: step });
  });

  /* A card's action panel (not on a past day's board). */
  var panel = document.getElementById("card-panel");
  function closePanel() {
    panel.hidden = true;
    panel.innerHTML = "";
  }
  function openPanel(id) {
    if (!live || !window.htmx) return;
    panel.hidden = false;
    window.htmx.ajax("GET", app.dataset.cardUrl + id + "/", { target: "#card-panel", swap: "innerHTML" });
  }
  liveBox.addEventListener("click", function (e) {
    var go = e.target.closest("[data-goto]");
    if (go) {
      var card = document.getElementById("card-" + go.dataset.goto);
      if (card) {
        e.preventDefault();
        card.scrollIntoView({ block: "center", inline: "center" });
        card.focus();
      }
      return;
    }
    if (e.target.closest("button, a, summary")) return;
    var li = e.target.closest(".card[data-item], tr[data-item]");
    if (li) openPanel(li.dataset.item);
  });
  liveBox.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target.matches(".card[data-item]")) openPanel(e.target.dataset.item);
  });
  panel.addEventListener("click", function (e) {
    if (e.target.closest(".panel-close")) closePanel();
  });
  document.body.addEventListener("board-changed", function () {
    refresh();
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) schedule(200 + Math.random() * 800);
  });

  afterRender();
  schedule();
})();
