/* Report page: a live Markdown preview beside each section, a warning before leaving unsaved edits,
 * and the print button of the printable page. The server renders and sanitises every preview
 * (the same nh3 pass as the saved page); without scripts the "Preview" button does the same. */
(function () {
  "use strict";

  var printButton = document.querySelector("[data-print]");
  if (printButton) {
    printButton.hidden = false;
    printButton.addEventListener("click", function () {
      window.print();
    });
  }

  var form = document.getElementById("report-form");
  if (!form || !window.fetch) return;
  var previewUrl = form.dataset.previewUrl;
  var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var dirty = false;
  var submitting = false;
  var dirtyNote = document.querySelector("[data-dirty-note]");

  // Live preview replaces the button; it stays for anyone without scripts.
  document.querySelectorAll("[data-preview-button]").forEach(function (button) {
    button.hidden = true;
  });

  function previewFor(textarea) {
    return document.querySelector('[data-preview-for="' + textarea.id + '"]');
  }

  function render(textarea) {
    var pane = previewFor(textarea);
    if (!pane) return;
    var body = new FormData();
    body.append("text", textarea.value);
    var asked = textarea.value;
    pane.setAttribute("aria-busy", "true");
    fetch(previewUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": token },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("json") === -1 || !(response.ok || response.status === 400)) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        // An older answer must not replace a newer one.
        if (textarea.value !== asked) return;
        if (data.html === undefined) {
          // Refused (over the section limit): say why instead of rendering.
          pane.classList.add("is-unavailable");
          pane.textContent = data.detail;
          return;
        }
        pane.innerHTML = data.html; // sanitised by the server (nh3)
        pane.classList.remove("is-unavailable");
      })
      .catch(function () {
        pane.classList.add("is-unavailable");
        pane.textContent = "Preview unavailable right now (signed out or offline?). Your text is still in the box.";
      })
      .then(function () {
        pane.removeAttribute("aria-busy");
      });
  }

  var timers = new WeakMap();
  function schedule(textarea) {
    clearTimeout(timers.get(textarea));
    timers.set(
      textarea,
      setTimeout(function () {
        render(textarea);
      }, 350)
    );
  }

  function markDirty() {
    dirty = true;
    if (dirtyNote) dirtyNote.hidden = false;
  }

  document.querySelectorAll("textarea.markdown").forEach(function (textarea) {
    textarea.addEventListener("input", function () {
      markDirty();
      schedule(textarea);
    });
  });
  form.addEventListener("change", markDirty);
  var title = form.querySelector("input[name=title]");
  if (title) title.addEventListener("input", markDirty);

  document.addEventListener("submit", function (event) {
    if (event.target === form) submitting = true;
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty && !submitting) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();
