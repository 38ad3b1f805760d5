// Sessionboard's own script: CSRF header for htmx, local times, keyboard keys.
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

  // -- times: shown in the viewer's time zone, UTC on hover --------------------------
  var formatter = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });

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
    var items = (root || document).querySelectorAll("time[datetime]:not([data-local])");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) continue;
      if (el.hasAttribute("data-clock")) {
        el.textContent = (el.hasAttribute("data-with-date") ? clockDate.format(when) + " " : "") +
          clockTime.format(when);
        el.title = clockFull.format(when) + " (" + utcText(when) + ")";
      } else {
        el.textContent = formatter.format(when);
        el.title = utcText(when);
      }
      el.setAttribute("data-local", "");
    }
  }

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

  function help() {
    var dialog = document.getElementById("help");
    if (dialog && !dialog.open) dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]") && event.key !== "Escape") return;
    var list;
    switch (event.key) {
      case "j":
        select(selected + 1);
        break;
      case "k":
        select(selected < 0 ? 0 : selected - 1);
        break;
      case "Enter":
        list = items();
        if (selected >= 0 && list[selected] && list[selected].dataset.href) {
          window.location.assign(list[selected].dataset.href);
        } else {
          return;
        }
        break;
      case "/":
        var search = document.querySelector("[data-search]");
        if (!search) return;
        search.focus();
        break;
      case "?":
        help();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-help]")) {
      help();
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
      ["project", "model", "duration", "tokens", "cost", "expires", "messages"].forEach(function (key) {
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

  // New rows or messages arrive through htmx (swaps, out-of-band swaps, polls):
  // watch the document rather than htmx events, whose source may be swapped away.
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    applyColumns(document);
    new MutationObserver(function () {
      localTimes(document);
      applyColumns(document);
      if (!document.querySelector(".selected")) selected = -1;
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
