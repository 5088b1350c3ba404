/* Desktop notifications, opt-in: a button asks the browser's permission and remembers the choice;
 * then each new unacknowledged P0/P1 the dashboard announces ("orion:urgent") becomes a notification. */
(function () {
  "use strict";

  var key = "orion.desktop";
  var button = document.getElementById("desktop-toggle");
  var supported = "Notification" in window;
  window.OrionDesktop = { shown: [] };

  function wanted() {
    try {
      return window.localStorage.getItem(key) === "on";
    } catch (e) {
      return false;
    }
  }

  function enabled() {
    return supported && wanted() && Notification.permission === "granted";
  }

  function render() {
    if (!button) return;
    var on = enabled();
    button.hidden = false;
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Desktop notifications on" : "Desktop notifications off";
    if (Notification.permission === "denied") button.title = "The browser blocks notifications for this site";
  }

  if (!supported) {
    var note = document.getElementById("desktop-unsupported");
    if (note) note.hidden = false;
    return;
  }

  if (button) {
    button.addEventListener("click", function () {
      if (enabled()) {
        window.localStorage.setItem(key, "off");
        render();
        return;
      }
      Notification.requestPermission().then(function (permission) {
        window.localStorage.setItem(key, permission === "granted" ? "on" : "off");
        render();
      });
    });
    render();
  }

  document.addEventListener("orion:urgent", function (event) {
    if (!enabled()) return;
    var detail = event.detail || {};
    var title = "New " + (detail.severity || "incident");
    var note = new Notification(title, { body: detail.title || "", tag: "orion-" + title });
    window.OrionDesktop.shown.push({ title: title, body: detail.title || "" });
    note.onclick = function () {
      window.focus();
    };
  });
})();
