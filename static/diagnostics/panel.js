// Diagnostics panel: "Run again" posts to the REST endpoint (session + CSRF). The runs' progress and
// results reach the panel through the incident page's live channel (incident.js), which re-renders it;
// so this listens on the document, and keeps working after the panel is replaced.
// An external file, because the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  function say(root, text) {
    var message = root.querySelector(".diagnostics-message");
    if (message) message.textContent = text;
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function refresh() {
    if (window.Orion && window.Orion.refresh) window.Orion.refresh();
  }

  function run(root, form) {
    var button = form.querySelector("button");
    button.disabled = true;
    say(root, "Starting…");
    fetch(root.getAttribute("data-diagnostics-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(form) },
      body: "{}",
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { status: response.status, body: body };
        });
      })
      .then(function (result) {
        if (result.status === 202) {
          say(root, result.body.runs.length + " run(s) in progress…");
          refresh();
        } else {
          button.disabled = false;
          say(root, result.body.detail || "Could not start diagnostics (HTTP " + result.status + ").");
        }
      })
      .catch(function (error) {
        button.disabled = false;
        say(root, "Could not start diagnostics (" + error.message + ").");
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-diagnostics-run]")) return;
    var root = form.closest(".diagnostics[data-diagnostics-url]");
    if (!root) return;
    event.preventDefault();
    run(root, form);
  });
})();
