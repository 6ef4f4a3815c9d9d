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

// ---- forms and VM list: submits show they are working; a stale answer never overwrites newer input ----
(function () {
  "use strict";
  var BUSY_TEXT = "Working… the portal is checking your answers.";

  function formOf(element) {
    if (!element) { return null; }
    return element.tagName === "FORM" ? element : element.closest("form");
  }

  function submitters(form) {
    return form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
  }

  function setBusy(form, busy) {
    submitters(form).forEach(function (button) {
      if (busy) { button.setAttribute("aria-busy", "true"); } else { button.removeAttribute("aria-busy"); }
    });
    var status = form.querySelector("[data-form-status]");
    // Done, the progress text goes; a note set meanwhile (a stale answer not shown) stays.
    if (status && (busy || status.textContent === BUSY_TEXT)) { status.textContent = busy ? BUSY_TEXT : ""; }
  }

  // Each form counts its edits; an answer to a request sent before the latest edit answers older input.
  // Only "input" counts: it fires before the "change" that may itself send the request.
  document.addEventListener("input", function (event) {
    var form = formOf(event.target);
    if (form) { form.dataset.edits = String(Number(form.dataset.edits || 0) + 1); }
  });

  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var form = formOf(event.detail.elt);
    if (!form) { return; }
    event.detail.xhr.formEdits = form.dataset.edits || "0";
    if (event.detail.requestConfig && event.detail.requestConfig.verb !== "get") { setBusy(form, true); }
  });

  document.body.addEventListener("htmx:afterRequest", function (event) {
    var form = formOf(event.detail.elt);
    if (form && document.contains(form)) { setBusy(form, false); }
  });

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    // The event's own elt is the swap target here; the element that asked is the request's.
    var config = event.detail.requestConfig;
    var form = formOf(config && config.elt);
    var xhr = event.detail.xhr;
    if (!form || !form.hasAttribute("data-guard-stale") || !xhr || xhr.formEdits === undefined) { return; }
    if ((form.dataset.edits || "0") === xhr.formEdits) { return; }
    // An answer that is not a form (a started migration) is always shown: hiding it would invite a second one.
    if (xhr.responseText.indexOf("<form") === -1) { return; }
    event.detail.shouldSwap = false;
    if (config.verb === "get") {
      // A reload of the lists: ask again with what the form holds now.
      htmx.ajax("GET", config.path, {source: config.elt});
      return;
    }
    var status = form.querySelector("[data-form-status]");
    if (status) {
      status.textContent = "You changed the form while the portal was checking it, so that answer is not shown. " +
        "Check your answers and submit again.";
    }
  });

  // Plain (non-htmx) forms: the submitter says it is working and a second click is refused, not sent twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || form.hasAttribute("hx-post") || form.hasAttribute("hx-get") ||
        (form.method || "get").toLowerCase() !== "post") { return; }
    if (form.dataset.submitting === "true") { event.preventDefault(); return; }
    form.dataset.submitting = "true";
    var submitter = event.submitter || form.querySelector("button[type=submit], button:not([type])");
    if (submitter) {
      submitter.setAttribute("aria-busy", "true");
      // Disabled only after the browser has read the form: a disabled submitter's name and value are not sent.
      window.setTimeout(function () { submitter.disabled = true; }, 0);
    }
  }, false);

  // Back to a page from the browser's cache: its forms are not submitting any more.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-submitting]").forEach(function (form) {
      delete form.dataset.submitting;
      submitters(form).forEach(function (button) { button.disabled = false; button.removeAttribute("aria-busy"); });
    });
  });
})();
