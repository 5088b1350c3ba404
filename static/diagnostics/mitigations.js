// Mitigate panel: Scale / Restart ask the API first WITHOUT confirm (it answers 400 with the exact
// command and the warnings, and runs nothing), show that, and only "Confirm and run" posts
// confirm: true. Then it follows the mitigation until it ends and reloads the page.
// An external file, because the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";
  var POLL_MS = 2000;

  function panel() {
    return document.querySelector(".mitigations[data-mitigations-url]");
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function say(form, text) {
    form.querySelector(".diagnostics-message").textContent = text;
  }

  function post(url, form, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(form) },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(
        function (data) { return { status: response.status, body: data }; },
        function () { return { status: response.status, body: {} }; }
      );
    });
  }

  // Field errors ({"replicas": ["…"]}) or {"detail": "…"} as one line.
  function problem(result) {
    var body = result.body || {};
    if (body.detail) return body.detail;
    var parts = [];
    Object.keys(body).forEach(function (key) {
      var value = body[key];
      parts.push(key + ": " + (Array.isArray(value) ? value.join(" ") : value));
    });
    return parts.join("; ") || "HTTP " + result.status;
  }

  function setBusy(form, busy) {
    form.querySelectorAll("button").forEach(function (button) { button.disabled = busy; });
  }

  function request(form, action) {
    var body = { action: action, service: form.getAttribute("data-service") };
    if (action === "scale") body.replicas = parseInt(form.elements.replicas.value, 10);
    return body;
  }

  function follow(root, id, form) {
    var url = root.getAttribute("data-mitigations-url");
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          var mine = data.mitigations.filter(function (m) { return id === null || m.id === id; });
          var pending = mine.filter(function (m) { return m.status === "queued" || m.status === "running"; });
          if (pending.length) {
            if (form) say(form, "Mitigation #" + pending[0].id + " is " + pending[0].status + "…");
            setTimeout(tick, POLL_MS);
          } else {
            window.location.reload();
          }
        })
        .catch(function (error) {
          if (form) say(form, "Could not follow the mitigation (" + error.message + ").");
        });
    }
    setTimeout(tick, POLL_MS);
  }

  function showConfirmation(form, result) {
    var box = form.querySelector("[data-mitigation-confirm]");
    box.querySelector("[data-would-run]").textContent = result.body.would_run;
    var current = result.body.current_replicas;
    box.querySelector("[data-current]").textContent =
      current === null || current === undefined ? "" : "Replicas now: " + current + ".";
    var list = box.querySelector("[data-warnings]");
    list.textContent = "";
    (result.body.warnings || []).forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
    list.hidden = !(result.body.warnings || []).length;
    box.hidden = false;
    say(form, "Nothing has run yet: check the command and the warnings, then confirm.");
    form.querySelector("[data-confirm]").focus();
  }

  // What was shown is what gets confirmed: the request body is kept until Confirm or Cancel.
  var asked = new WeakMap();

  function ask(root, form, action) {
    var box = form.querySelector("[data-mitigation-confirm]");
    box.hidden = true;
    asked.delete(form);
    var body = request(form, action);
    setBusy(form, true);
    say(form, "Checking what would run…");
    post(root.getAttribute("data-mitigations-url"), form, body)
      .then(function (result) {
        setBusy(form, false);
        if (result.status === 400 && result.body.would_run) {
          asked.set(form, body);
          showConfirmation(form, result);
        } else {
          say(form, problem(result));
        }
      })
      .catch(function (error) {
        setBusy(form, false);
        say(form, "Could not reach the server (" + error.message + ").");
      });
  }

  function confirm(root, form) {
    var box = form.querySelector("[data-mitigation-confirm]");
    var shown = asked.get(form);
    if (!shown) return;
    var body = Object.assign({}, shown, { confirm: true });
    setBusy(form, true);
    say(form, "Running…");
    post(root.getAttribute("data-mitigations-url"), form, body)
      .then(function (result) {
        if (result.status === 202) {
          box.hidden = true;
          asked.delete(form);
          say(form, "Mitigation #" + result.body.id + " queued…");
          follow(root, result.body.id, form);
        } else {
          setBusy(form, false);
          say(form, problem(result));
        }
      })
      .catch(function (error) {
        setBusy(form, false);
        say(form, "Could not reach the server (" + error.message + ").");
      });
  }

  function init() {
    var root = panel();
    if (!root) return;
    root.querySelectorAll("form[data-mitigation-form]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var action = event.submitter ? event.submitter.value : "scale";
        if (action === "scale" && !form.reportValidity()) return;
        ask(root, form, action);
      });
      form.querySelector("[data-confirm]").addEventListener("click", function () { confirm(root, form); });
      form.querySelector("[data-cancel]").addEventListener("click", function () {
        form.querySelector("[data-mitigation-confirm]").hidden = true;
        asked.delete(form);
        say(form, "Cancelled; nothing ran.");
      });
      // Changing the count after seeing the command withdraws the confirmation.
      form.elements.replicas.addEventListener("input", function () {
        if (!asked.has(form)) return;
        form.querySelector("[data-mitigation-confirm]").hidden = true;
        asked.delete(form);
        say(form, "Changed: ask again to see what would run.");
      });
    });
    if (root.getAttribute("data-mitigations-active") === "true") follow(root, null, null);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
