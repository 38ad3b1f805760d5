// Rubric keys on a session page: 1-9 answer the current criterion of the active
// rubric, [ and ] move between its criteria, t focuses its text answer. The
// "Save view" form sends the list's current filters. No eval, no inline handlers.
(function () {
  "use strict";

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function rubric() {
    return document.querySelector("[data-rubric-active]");
  }

  function current(panel) {
    return panel.querySelector(".criterion.current") || panel.querySelector(".criterion");
  }

  function move(panel, step) {
    var all = Array.prototype.slice.call(panel.querySelectorAll(".criterion"));
    if (!all.length) return;
    var at = all.indexOf(current(panel));
    var next = all[Math.min(all.length - 1, Math.max(0, at + step))];
    all.forEach(function (el) { el.classList.remove("current"); });
    next.classList.add("current");
    next.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]")) return;
    var panel = rubric();
    if (!panel) return;
    var criterion = current(panel);
    if (!criterion) return;
    if (event.key === "[" || event.key === "]") {
      move(panel, event.key === "]" ? 1 : -1);
    } else if (event.key === "t") {
      var text = criterion.querySelector("[data-rubric-text]") || panel.querySelector("[data-rubric-text]");
      if (!text) return;
      text.focus();
    } else if (/^[1-9]$/.test(event.key)) {
      var button = criterion.querySelector('[data-rubric-key="' + event.key + '"]');
      if (!button) return;
      button.form.requestSubmit(button);
    } else {
      return;
    }
    event.preventDefault();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-save-view]")) return;
    form.querySelector('input[name="query"]').value = window.location.search.replace(/^\?/, "");
  }, true);
})();
