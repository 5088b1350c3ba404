// Diagnostics panel: "Run again" posts to the REST endpoint (session + CSRF),
// then follows the runs' progress and reloads the page when they are done.
// An external file, because the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";
  var POLL_MS = 2000;

  function panel() {
    return document.querySelector(".diagnostics[data-diagnostics-url]");
  }

  function say(root, text) {
    var message = root.querySelector(".diagnostics-message");
    if (message) message.textContent = text;
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function isActive(run) {
    return run.status === "queued" || run.status === "running";
  }

  function follow(root) {
    var url = root.getAttribute("data-diagnostics-url");
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (body) {
          var active = body.runs.filter(isActive);
          body.runs.forEach(function (run) {
            var item = root.querySelector('[data-run-id="' + run.id + '"] .diagnostics-progress');
            if (item) item.textContent = run.checks_done + " of " + run.checks_total + " checks done";
          });
          if (active.length) {
            setTimeout(tick, POLL_MS);
          } else {
            window.location.reload();
          }
        })
        .catch(function (error) {
          say(root, "Could not refresh diagnostics (" + error.message + ").");
        });
    }
    setTimeout(tick, POLL_MS);
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
          follow(root);
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

  function init() {
    var root = panel();
    if (!root) return;
    var form = root.querySelector("form[data-diagnostics-run]");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        run(root, form);
      });
    }
    if (root.getAttribute("data-diagnostics-active") === "true") follow(root);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
