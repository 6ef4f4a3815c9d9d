// The live parts: the migrate dialog (htmx loads the form into #dialog-body) and keeping keyboard focus where it
// was when a polled fragment replaces the element that held it.
(function () {
  "use strict";
  var dialog = document.getElementById("dialog");
  var opener = null;

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest("[data-open-dialog]");
    if (trigger) { opener = trigger; }
    if (event.target.closest("[data-close-dialog]") && dialog) { dialog.close(); }
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (!dialog || event.detail.target.id !== "dialog-body") { return; }
    var title = event.detail.target.querySelector("[data-dialog-title]");
    if (title) { document.getElementById("dialog-title").textContent = title.textContent; title.hidden = true; }
    if (!dialog.open) { dialog.showModal(); }
    var first = event.detail.target.querySelector("[autofocus], input:not([type=hidden]), select, button");
    if (first) { first.focus(); }
  });

  if (dialog) {
    dialog.addEventListener("close", function () {
      if (opener) { opener.focus(); }
    });
  }

  var focusedId = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    focusedId = active && active.id && event.detail.target.contains(active) ? active.id : null;
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) { again.focus(); }
      focusedId = null;
    }
  });
})();

// --- Header groups (Administration, Audit) -------------------------------------------------------------------
// <details class="dropdown"> opens and closes by keyboard on its own; this adds what a menu is expected to do:
// Escape closes it and gives focus back to its summary, and a click elsewhere or opening another group closes it.
(function () {
  "use strict";
  var groups = function () { return document.querySelectorAll(".site-header details.nav-group[open]"); };

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var open = event.target.closest && event.target.closest(".site-header details.nav-group[open]");
    if (open) {
      open.open = false;
      open.querySelector("summary").focus();
    }
  });

  document.addEventListener("click", function (event) {
    var inside = event.target.closest && event.target.closest(".site-header details.nav-group");
    groups().forEach(function (group) { if (group !== inside) { group.open = false; } });
  });
})();
