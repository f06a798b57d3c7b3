/* Tracker: small behaviours shared by every page. No inline scripts are needed. */
(function () {
  "use strict";

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function announce(text) {
    const region = document.getElementById("live-region");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  window.Tracker = { csrfToken: csrfToken, announce: announce };

  // htmx requests carry the CSRF token (the body's hx-headers does too; this covers fragments
  // swapped in from elsewhere).
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.headers["X-CSRFToken"]) {
      event.detail.headers["X-CSRFToken"] = csrfToken();
    }
    // Filter forms marked data-drop-empty leave blank fields out of the URL they push.
    const form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("[data-drop-empty]");
    const data = event.detail.formData;
    if (form && event.detail.verb === "get" && data) {
      Array.from(data.keys()).forEach(function (key) {
        if (data.getAll(key).every(function (value) { return value === ""; })) data.delete(key);
      });
    }
  });

  // <form data-confirm="Question?">: ask before submitting (e.g. revoking an API key).
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <button data-copy-target="#id">: copy an input's value to the clipboard.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const input = document.querySelector(button.dataset.copyTarget);
    if (!input) return;
    const label = button.querySelector("[data-copy-label]") || button;
    const done = function () {
      label.textContent = "Copied";
      announce("Copied to the clipboard.");
      window.setTimeout(function () { label.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        input.select();
        document.execCommand("copy");
        done();
      });
    } else {
      input.select();
      document.execCommand("copy");
      done();
    }
  });

  // <div data-width="42">: a bar's width in percent, set through the CSSOM (allowed by the
  // Content-Security-Policy, where a style="" attribute is not). htmx:load covers swapped content.
  function applyWidths(root) {
    root.querySelectorAll("[data-width]").forEach(function (el) {
      const value = parseFloat(el.dataset.width);
      if (!isNaN(value)) el.style.width = Math.max(0, Math.min(100, value)) + "%";
    });
  }
  applyWidths(document);
  document.addEventListener("htmx:load", function (event) {
    if (event.target && event.target.querySelectorAll) applyWidths(event.target);
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
  });
})();
