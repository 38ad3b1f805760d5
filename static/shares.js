// Share panel of the session page: open and close the create dialog, copy a new link.
// Delegated from the document, so a panel htmx swaps in works the same.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var panel = target.closest("#share-panel");
    if (!panel) return;
    var dialog = panel.querySelector("#share-dialog");
    if (target.closest("[data-share-open]") && dialog) {
      dialog.showModal();
    } else if (target.closest("[data-share-close]") && dialog) {
      dialog.close();
    } else if (target.closest("[data-copy-share]")) {
      var field = panel.querySelector("[data-share-url]");
      if (!field) return;
      field.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(field.value).then(function () {
          target.textContent = "Copied";
        }, function () {});
      }
    }
  });
  document.addEventListener("htmx:after:swap", function () {
    var open = document.querySelector("#share-dialog[open]");
    if (open) open.close();
  });
})();
