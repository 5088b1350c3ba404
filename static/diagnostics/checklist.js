// Runbook checklist panel: attaching a runbook and ticking a step post to the API; the page's live
// channel then re-renders the panel with who ticked what. Listens on the document, since the panel
// is replaced by the live channel. An external file: the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  function csrfToken(root) {
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function post(root, url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(root) },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(
        function (data) { return { status: response.status, body: data }; },
        function () { return { status: response.status, body: {} }; }
      );
    });
  }

  function say(root, result, fallback) {
    var message = root.querySelector(".checklist-message");
    if (!message) return;
    var body = result.body || {};
    message.textContent = result.status < 300 ? fallback : body.detail || JSON.stringify(body);
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches(".checklist input[type=checkbox][data-step-url]")) return;
    var root = box.closest("[data-checklist]");
    box.disabled = true;
    post(root, box.getAttribute("data-step-url"), { done: box.checked }).then(function (result) {
      box.disabled = false;
      if (result.status >= 300) box.checked = !box.checked;
      say(root, result, box.checked ? "Step done." : "Step undone.");
    });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-checklist-attach]")) return;
    event.preventDefault();
    var root = form.closest("[data-checklist]");
    var slug = form.querySelector("[name=slug]").value;
    post(root, root.getAttribute("data-api-url"), { slug: slug }).then(function (result) {
      say(root, result, "Runbook attached.");
    });
  });
})();
