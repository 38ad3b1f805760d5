// The transcript's noise toggles (thinking, tool details, hooks and system lines),
// in the URL and remembered per browser, where a running session opens, and the
// search hit shown (marked and scrolled to, also after a step to another hit).
// No eval, no inline handlers: the page runs under a strict Content-Security-Policy.
(function () {
  "use strict";

  var STORE = "sessionboard.transcript.toggles";
  var TARGETS = {
    thinking: "details.thinking",
    tools: "details.run, details.call",
    hooks: "details.events",
  };

  function saved() {
    try {
      var value = JSON.parse(window.localStorage.getItem(STORE) || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (e) {
      return {};
    }
  }

  function save(state) {
    try {
      window.localStorage.setItem(STORE, JSON.stringify(state));
    } catch (e) {
      // private mode or full storage: the URL still carries the toggles
    }
  }

  // The state the page was drawn with: the URL's parameters, else the browser's.
  function initialState() {
    var params = new URLSearchParams(window.location.search);
    var fromUrl = false;
    var state = {};
    Object.keys(TARGETS).forEach(function (name) {
      if (params.has(name)) fromUrl = true;
      state[name] = params.get(name) === "1";
    });
    return { state: fromUrl ? state : saved(), fromUrl: fromUrl };
  }

  function apply(root, name, on) {
    var items = root.querySelectorAll(TARGETS[name]);
    for (var i = 0; i < items.length; i++) items[i].open = on;
  }

  function applyOn(root, state) {
    Object.keys(TARGETS).forEach(function (name) {
      if (!state[name]) return;
      if (root.matches && root.matches(TARGETS[name])) root.open = true;
      apply(root, name, true);
    });
  }

  function urlWith(state) {
    var url = new URL(window.location.href);
    Object.keys(TARGETS).forEach(function (name) {
      if (state[name]) url.searchParams.set(name, "1");
      else url.searchParams.delete(name);
    });
    return url;
  }

  function showControls(state) {
    var controls = document.querySelectorAll("[data-noise-toggle]");
    for (var i = 0; i < controls.length; i++) {
      var name = controls[i].getAttribute("data-noise-toggle");
      var flipped = Object.assign({}, state);
      flipped[name] = !state[name];
      controls[i].setAttribute("aria-pressed", state[name] ? "true" : "false");
      controls[i].setAttribute("href", urlWith(flipped).pathname + urlWith(flipped).search);
    }
  }

  // The hit the navigation names: marked, its tool call opened, brought into view.
  // Marked by an attribute, not a class: htmx's settle step puts back the class
  // of an element whose id was on the page before the swap.
  function showHit(scroll) {
    var marked = document.querySelectorAll("[data-hit-shown]");
    for (var i = 0; i < marked.length; i++) marked[i].removeAttribute("data-hit-shown");
    var nav = document.querySelector(".hit-nav[data-hit]");
    if (!nav) return;
    var target = document.getElementById("m-" + nav.getAttribute("data-hit"));
    if (!target) return;
    // A tool result's anchor is an empty mark inside its call: show the call.
    var box = target.classList.contains("anchor") ? target.closest("details") || target : target;
    // Open every fold it is in (a run of tools, the call): a closed one hides it.
    for (var fold = box; fold; fold = fold.parentElement) {
      if (fold.tagName === "DETAILS") fold.open = true;
    }
    box.setAttribute("data-hit-shown", "");
    if (scroll) box.scrollIntoView({ block: "center" });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showHit(!window.location.hash);
    var transcript = document.querySelector("[data-transcript]");
    if (!transcript) return;
    var initial = initialState();
    var state = initial.state;
    if (!initial.fromUrl) {
      applyOn(transcript, state);
      window.history.replaceState(window.history.state, "", urlWith(state));
    }
    save(state);
    showControls(state);

    document.addEventListener("click", function (event) {
      var control = event.target.closest("[data-noise-toggle]");
      if (!control) return;
      event.preventDefault();
      var name = control.getAttribute("data-noise-toggle");
      state[name] = !state[name];
      apply(document, name, state[name]);
      window.history.replaceState(window.history.state, "", urlWith(state));
      save(state);
      showControls(state);
    });

    // Turns that arrive later (live updates, a subagent opened in place, a step to
    // another hit) follow the toggles.
    // The area a step swaps is itself replaced: watch what holds it.
    var area = transcript.closest("[data-transcript-area]");
    var observed = area && area.parentElement ? area.parentElement : transcript;
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node.nodeType !== 1) return;
          applyOn(node, state);
          if (node.matches("[data-transcript-area]")) {
            showControls(state);
            // After htmx has settled the swap (it may still move or restore things).
            window.setTimeout(function () {
              showHit(true);
            }, 50);
          }
        });
      });
    }).observe(observed, { childList: true, subtree: true });

    // A running session opens at its end (unless a link points somewhere).
    if (transcript.hasAttribute("data-live") && !window.location.hash) {
      var end = document.getElementById("transcript-end");
      if (end) end.scrollIntoView({ block: "end" });
    }
  });
})();
