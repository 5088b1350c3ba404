// Likely causes panel: "Raise to P1" posts the suggested severity to the API; the page's live channel
// then shows the new severity in the header and the timeline. Never automatic: only this click raises.
// An external file: the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-severity-raise]")) return;
    event.preventDefault();
    var button = form.querySelector("button");
    var message = form.querySelector(".severity-message");
    button.disabled = true;
    fetch(form.getAttribute("data-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(form) },
      body: JSON.stringify({ severity: form.querySelector("[name=severity]").value }),
    }).then(function (response) {
      return response.json().then(function (body) { return { status: response.status, body: body }; });
    }).then(function (result) {
      button.disabled = false;
      message.textContent = result.status < 300 ? "Severity raised." : (result.body.detail || "Could not raise.");
    }, function () {
      button.disabled = false;
      message.textContent = "Could not reach the server.";
    });
  });
})();
