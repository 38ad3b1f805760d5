// Sessionboard's own script: CSRF header for htmx, relative times, keyboard keys, menu.
// No eval, no inline handlers: the page runs under a strict Content-Security-Policy.
(function () {
  "use strict";

  // -- htmx: every request carries the CSRF token from the page's meta tag --------
  document.addEventListener("htmx:config:request", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    var ctx = event.detail && event.detail.ctx;
    if (meta && ctx && ctx.request) {
      ctx.request.headers["X-CSRFToken"] = meta.content;
    }
  });

  // -- times: the server writes "5 min ago" (exact UTC time in the title); here the
  // relative text is kept fresh and the title shows the exact local time with seconds.
  var exact = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    second: "2-digit", timeZoneName: "short",
  });
  // [seconds, name, plural], as webapp/times.py writes them.
  var UNITS = [[31536000, "year", "years"], [2592000, "month", "months"], [86400, "day", "days"],
    [3600, "h", "h"], [60, "min", "min"]];

  function relative(when, now) {
    var seconds = Math.round((when - now) / 1000);
    var size = Math.abs(seconds);
    if (size < 45) return seconds <= 0 ? "just now" : "in a moment";
    var text = "";
    for (var i = 0; i < UNITS.length; i++) {
      if (size >= UNITS[i][0] * 0.75 || i === UNITS.length - 1) {
        var n = Math.max(1, Math.round(size / UNITS[i][0]));
        text = n + " " + (n === 1 ? UNITS[i][1] : UNITS[i][2]);
        break;
      }
    }
    return seconds < 0 ? text + " ago" : "in " + text;
  }

  // A transcript clock (time[data-clock]): the time with seconds (the date too with
  // data-with-date); on hover the local date, time and zone, then UTC.
  var clockTime = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  var clockDate = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
  });
  var clockFull = new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "long",
  });

  function utcText(when) {
    return when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace("Z", " UTC");
  }

  function localTimes(root) {
    var scope = root || document;
    var clocks = scope.querySelectorAll("time[datetime][data-clock]:not([data-local])");
    for (var c = 0; c < clocks.length; c++) {
      var clock = clocks[c];
      var at = new Date(clock.getAttribute("datetime"));
      if (isNaN(at.getTime())) continue;
      clock.textContent = (clock.hasAttribute("data-with-date") ? clockDate.format(at) + " " : "") +
        clockTime.format(at);
      clock.title = clockFull.format(at) + " (" + utcText(at) + ")";
      clock.setAttribute("data-local", "");
    }
    var items = scope.querySelectorAll("time[datetime][data-relative]");
    var now = Date.now();
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) continue;
      var text = relative(when.getTime(), now);
      if (el.textContent !== text) el.textContent = text;
      if (!el.hasAttribute("data-local")) {
        el.title = exact.format(when);
        el.setAttribute("data-local", "");
      }
    }
  }
  setInterval(function () { localTimes(document); }, 30000);

  // -- keyboard: j/k move, Enter opens, / searches, ? helps -------------------------
  var selected = -1;

  function items() {
    var rows = document.querySelectorAll("tr[data-href]");
    return rows.length ? rows : document.querySelectorAll("[data-message]");
  }

  function select(index) {
    var list = items();
    if (!list.length) return;
    index = Math.max(0, Math.min(list.length - 1, index));
    for (var i = 0; i < list.length; i++) list[i].classList.remove("selected");
    var el = list[index];
    el.classList.add("selected");
    el.setAttribute("aria-selected", "true");
    el.scrollIntoView({ block: "nearest" });
    selected = index;
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  // The one list of keys: the handler below dispatches through it and the help
  // dialog (?) is written from it. review.js adds its keys with Sessionboard.addKey.
  var KEYS = [];

  function addKey(keys, does, run) {
    KEYS.push({ keys: keys, does: does, run: run });
  }
  window.Sessionboard = { addKey: addKey, keys: KEYS };

  function help() {
    var dialog = document.getElementById("help");
    if (!dialog || dialog.open) return;
    var list = dialog.querySelector("[data-keys]");
    list.replaceChildren();
    KEYS.forEach(function (entry) {
      var dt = document.createElement("dt");
      entry.keys.forEach(function (key, i) {
        if (i) dt.append(" / ");
        var kbd = document.createElement("kbd");
        kbd.textContent = key === " " ? "Space" : key;
        dt.append(kbd);
      });
      var dd = document.createElement("dd");
      dd.textContent = entry.does;
      list.append(dt, dd);
    });
    dialog.showModal();
  }

  addKey(["j", "k"], "next / previous session (or message)", function (event) {
    if (event.key === "j") select(selected + 1);
    else select(selected < 0 ? 0 : selected - 1);
  });
  addKey(["Enter"], "open the selected session", function () {
    var list = items();
    if (!(selected >= 0 && list[selected] && list[selected].dataset.href)) return false;
    window.location.assign(list[selected].dataset.href);
  });
  addKey(["/"], "search", function () {
    var search = document.querySelector("[data-search]") || document.querySelector(".search-box input");
    if (!search || !search.offsetParent) return false;
    search.focus();
  });
  addKey(["?"], "show this help", help);
  addKey(["Esc"], "close this help", function () { return false; });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]") && event.key !== "Escape") return;
    var key = event.key === "Escape" ? "Esc" : event.key;
    for (var i = 0; i < KEYS.length; i++) {
      if (KEYS[i].keys.indexOf(key) >= 0) {
        if (KEYS[i].run(event) !== false) event.preventDefault();
        return;
      }
    }
  });

  // The phone header's menu: one button shows the links, search and account.
  function toggleMenu(button) {
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", open ? "true" : "false");
    button.closest(".topbar").classList.toggle("menu-open", open);
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-help]")) {
      help();
      return;
    }
    var menu = event.target.closest("[data-menu]");
    if (menu) {
      toggleMenu(menu);
      return;
    }
    // A click anywhere on a list row opens it (the request cell holds the real link).
    var row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, button, input, label")) {
      window.location.assign(row.dataset.href);
    }
  });

  // The list's optional columns: ticked ones show; the choice is kept in this
  // browser (localStorage) and applied again to every list rendered.
  var COLUMNS_KEY = "sessionboard.hidden-columns";

  function hiddenColumns() {
    try { return JSON.parse(localStorage.getItem(COLUMNS_KEY) || "[]"); } catch (e) { return []; }
  }

  function applyColumns(root) {
    var hidden = hiddenColumns();
    root.querySelectorAll("table.sessions").forEach(function (table) {
      ["project", "model", "duration", "tokens", "cost", "expires", "messages", "score"].forEach(function (key) {
        table.classList.toggle("hide-" + key, hidden.indexOf(key) >= 0);
      });
    });
    root.querySelectorAll("[data-columns] input[type=checkbox]").forEach(function (box) {
      box.checked = hidden.indexOf(box.value) < 0;
    });
  }

  document.addEventListener("change", function (event) {
    var box = event.target.closest("[data-columns] input[type=checkbox]");
    if (!box) return;
    var hidden = hiddenColumns().filter(function (key) { return key !== box.value; });
    if (!box.checked) hidden.push(box.value);
    localStorage.setItem(COLUMNS_KEY, JSON.stringify(hidden));
    applyColumns(document);
  });

  // A table that scrolls sideways (a phone) takes the keyboard focus, so its
  // hidden columns are reachable with the arrow keys.
  function focusableScrolls(root) {
    var boxes = (root || document).querySelectorAll("main table, .table-wrap, .table-scroll");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (box.scrollWidth > box.clientWidth + 1 && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
      }
    }
  }
  window.addEventListener("resize", function () { focusableScrolls(document); });

  // New rows or messages arrive through htmx (swaps, out-of-band swaps, polls):
  // watch the document rather than htmx events, whose source may be swapped away.
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    applyColumns(document);
    focusableScrolls(document);
    new MutationObserver(function () {
      localTimes(document);
      applyColumns(document);
      focusableScrolls(document);
      if (!document.querySelector(".selected")) selected = -1;
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
