// Review keys: a approve, f flag, n next to review, p previous (session page);
// in the inbox, j past the last loaded row loads more. No eval, no inline handlers.
(function () {
  "use strict";

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function activate(el) {
    if (el.tagName === "BUTTON" && el.form) {
      el.form.requestSubmit(el);
    } else if (el.href) {
      window.location.assign(el.href);
    } else {
      el.click();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]")) return;
    if (event.key === "j") {
      var rows = document.querySelectorAll("tr.inbox-row");
      var more = document.querySelector("[data-inbox-more]");
      if (more && rows.length && rows[rows.length - 1].classList.contains("selected")) {
        more.click();
      }
      return;
    }
  });

  // a, f, n, p: the element marked data-review-key for it (absent: the key does nothing).
  function reviewKey(event) {
    var el = document.querySelector('[data-review-key="' + event.key + '"]');
    if (!el) return false;
    activate(el);
  }
  var add = window.Sessionboard.addKey;
  add(["a"], "approve the session (session page)", reviewKey);
  add(["f"], "flag the session (session page)", reviewKey);
  add(["n"], "next session to review (inbox, session page)", reviewKey);
  add(["p"], "previous session to review (session page)", reviewKey);
})();
