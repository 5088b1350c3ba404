// Mitigate panel: Scale / Restart ask the API first WITHOUT confirm (it answers 400 with the exact
// command and the warnings, and runs nothing), show that, and only "Confirm and run" posts
// confirm: true. The mitigation's progress and outcome reach the panel through the incident page's
// live channel (incident.js), which re-renders it: so this listens on the document, and marks the
// form data-live-hold while a confirmation is on screen (the panel is not replaced under it).
// An external file, because the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

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

  function rootOf(form) {
    return form.closest(".mitigations[data-mitigations-url]");
  }

  // What was shown is what gets confirmed: the request body is kept until Confirm or Cancel.
  var asked = new WeakMap();

  function withdraw(form) {
    form.querySelector("[data-mitigation-confirm]").hidden = true;
    asked.delete(form);
    form.removeAttribute("data-live-hold");
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
    form.setAttribute("data-live-hold", "");
    say(form, "Nothing has run yet: check the command and the warnings, then confirm.");
    form.querySelector("[data-confirm]").focus();
  }

  function ask(form, action) {
    withdraw(form);
    var body = request(form, action);
    setBusy(form, true);
    say(form, "Checking what would run…");
    post(rootOf(form).getAttribute("data-mitigations-url"), form, body)
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

  function confirm(form) {
    var shown = asked.get(form);
    if (!shown) return;
    var body = Object.assign({}, shown, { confirm: true });
    setBusy(form, true);
    say(form, "Running…");
    post(rootOf(form).getAttribute("data-mitigations-url"), form, body)
      .then(function (result) {
        if (result.status === 202) {
          withdraw(form);
          form.reset(); // sent: nothing left unsaved, so the live channel may show the mitigation
          setBusy(form, false);
          say(form, "Mitigation #" + result.body.id + " queued…");
          if (window.Orion && window.Orion.refresh) window.Orion.refresh();
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

  function mitigationForm(target) {
    var form = target && target.closest ? target.closest("form[data-mitigation-form]") : null;
    return form && rootOf(form) ? form : null;
  }

  document.addEventListener("submit", function (event) {
    var form = mitigationForm(event.target);
    if (!form) return;
    event.preventDefault();
    var action = event.submitter ? event.submitter.value : "scale";
    if (action === "scale" && !form.reportValidity()) return;
    ask(form, action);
  });

  document.addEventListener("click", function (event) {
    var form = mitigationForm(event.target);
    if (!form) return;
    if (event.target.closest("[data-confirm]")) {
      confirm(form);
    } else if (event.target.closest("[data-cancel]")) {
      withdraw(form);
      say(form, "Cancelled; nothing ran.");
    }
  });

  // Changing the count after seeing the command withdraws the confirmation.
  document.addEventListener("input", function (event) {
    var form = mitigationForm(event.target);
    if (!form || event.target.name !== "replicas" || !asked.has(form)) return;
    withdraw(form);
    say(form, "Changed: ask again to see what would run.");
  });
})();
