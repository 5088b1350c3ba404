/* Orion Ops: shared page behaviour. No framework, no build step; every page works without it.
 *
 * - server clock offset, so countdowns agree with the server rather than the laptop's clock
 * - SLA countdowns ([data-ack-due]) and relative times (time[data-relative]), ticking every second
 * - forms marked data-enhance post with fetch (X-CSRFToken) and answer with JSON; the page script
 *   applies the fragments. Anything unexpected falls back to the plain form post.
 * - the poller behind each page's live channel: fast after a change, backing off when nothing changes,
 *   paused while the tab is hidden
 */
(function () {
  "use strict";

  var Orion = (window.Orion = window.Orion || {});
  var offset = 0;
  var serverNow = Number(document.body.dataset.serverNow);
  if (serverNow) offset = serverNow - Date.now();

  Orion.now = function () {
    return Date.now() + offset;
  };

  /* A response's server time, minus half the round trip, against our clock. */
  Orion.syncClock = function (serverMs, sentAt, receivedAt) {
    if (serverMs) offset = serverMs - (sentAt + receivedAt) / 2;
  };

  function span(seconds) {
    seconds = Math.floor(Math.abs(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes >= 10 || seconds % 60 === 0 ? minutes + " min" : minutes + " min " + (seconds % 60) + " s";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return minutes % 60 ? hours + " h " + (minutes % 60) + " min" : hours + " h";
    var days = Math.floor(hours / 24);
    return hours % 24 ? days + " d " + (hours % 24) + " h" : days + " d";
  }
  Orion.span = span;

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  /* 14:59, 1:02:03 — a ticking clock reads better than words while it counts. */
  function clock(seconds) {
    seconds = Math.floor(Math.abs(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }

  function relative(then, now) {
    var delta = (now - then) / 1000;
    if (Math.abs(delta) < 5) return "just now";
    return delta > 0 ? span(delta) + " ago" : "in " + span(delta);
  }

  Orion.tick = function () {
    var now = Orion.now();
    document.querySelectorAll("[data-ack-due]").forEach(function (el) {
      var due = Date.parse(el.dataset.ackDue);
      if (isNaN(due)) return;
      var left = (due - now) / 1000;
      var label = el.querySelector(".sla-label");
      var countdown = el.querySelector(".countdown");
      var row = el.closest(".incident-row");
      if (left > 0) {
        el.classList.add("sla-due");
        el.classList.remove("sla-breached");
        el.classList.toggle("is-close", left < 120);
        if (label) label.textContent = "Ack within";
        if (countdown) countdown.textContent = clock(left);
        if (row) row.classList.remove("is-breached");
      } else {
        el.classList.remove("sla-due", "is-close");
        el.classList.add("sla-breached");
        if (label) label.textContent = "SLA breached";
        if (countdown) countdown.textContent = "+" + clock(-left);
        if (row) row.classList.add("is-breached");
      }
    });
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var then = Date.parse(el.dateTime);
      if (!isNaN(then)) el.textContent = relative(then, now);
    });
  };

  /* Flash messages: the same place and look as the server's. */
  Orion.flash = function (message, level) {
    var area = document.getElementById("flash");
    if (!area || !message) return;
    var p = document.createElement("p");
    p.className = "flash flash-" + (level || "info");
    var text = document.createElement("span");
    text.textContent = message;
    p.appendChild(Orion.icon(level === "error" ? "alert" : "check"));
    p.appendChild(text);
    area.replaceChildren(p);
    if (level !== "error") {
      setTimeout(function () {
        if (p.parentNode) p.remove();
      }, 8000);
    }
  };

  Orion.icon = function (name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    var use = document.createElementNS(ns, "use");
    use.setAttribute("href", document.body.dataset.icons + "#" + name);
    svg.appendChild(use);
    return svg;
  };

  Orion.liveStatus = function (state, text) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.dataset.state = state;
    var label = el.querySelector(".live-text");
    if (label) label.textContent = text;
  };

  /* Parse server HTML (rows, list items) into nodes without running anything in it. */
  Orion.fragment = function (html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  };

  function SignedOut() {}
  Orion.SignedOut = SignedOut;

  Orion.getJSON = function (url) {
    var sentAt = Date.now();
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.redirected || response.status === 401 || response.status === 403 || type.indexOf("json") === -1) {
        throw new SignedOut();
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json().then(function (data) {
        Orion.syncClock(data.server_time, sentAt, Date.now());
        return data;
      });
    });
  };

  function hidden() {
    return document.visibilityState === "hidden";
  }

  /* The one live channel of a page: poll with fn(), which resolves true when something changed.
   * Every min ms after a change (or while options.busy() says work is in progress, e.g. a diagnostic run),
   * backing off by half per quiet answer up to max ms, and further on errors. Paused while the tab is hidden,
   * polled at once when it is shown again, and at once on an "orion:refresh" event (a page script that
   * just changed something dispatches it on document). */
  Orion.poller = function (fn, options) {
    options = options || {};
    var min = options.min || 2000;
    var max = options.max || 20000;
    var busy = options.busy || function () {
      return false;
    };
    var delay = min;
    var timer = null;
    var running = false;
    var again = false;
    var stopped = false;

    function schedule() {
      if (stopped || timer || hidden()) return;
      timer = setTimeout(run, delay);
    }

    function run() {
      clearTimeout(timer);
      timer = null;
      if (stopped || hidden()) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      Promise.resolve()
        .then(fn)
        .then(function (changed) {
          delay = changed || busy() ? min : Math.min(max, Math.round(delay * 1.5));
          // An answer that arrives after the tab was hidden must not undo "paused".
          if (hidden()) Orion.liveStatus("paused", "Paused while hidden");
          else Orion.liveStatus("live", "Live");
        })
        .catch(function (error) {
          if (error instanceof SignedOut) {
            stopped = true;
            Orion.liveStatus("error", "Live updates stopped: reload the page");
            return;
          }
          delay = Math.min(60000, Math.max(delay * 2, 4000));
          if (hidden()) Orion.liveStatus("paused", "Paused while hidden");
          else Orion.liveStatus("error", "Reconnecting…");
        })
        .then(function () {
          running = false;
          if (again) {
            again = false;
            run();
          } else {
            schedule();
          }
        });
    }

    function now() {
      delay = min;
      run();
    }

    document.addEventListener("visibilitychange", function () {
      if (hidden()) {
        clearTimeout(timer);
        timer = null;
        if (!stopped) Orion.liveStatus("paused", "Paused while hidden");
      } else {
        now();
      }
    });
    document.addEventListener("orion:refresh", now);

    schedule();
    return { now: now };
  };

  /* Ask the page's live channel for news now: after an action whose outcome other parts of the page show. */
  Orion.refresh = function () {
    document.dispatchEvent(new CustomEvent("orion:refresh"));
  };

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* Forms marked data-enhance: post with fetch, announce the answer, let the page apply it.
   * A button elsewhere on the page may submit the form (form="…") to its own address (formaction). */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-enhance]") || !window.fetch) return;
    event.preventDefault();
    var submitter = event.submitter;
    var action = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    var buttons = Array.prototype.slice.call(form.querySelectorAll("button"));
    if (submitter && buttons.indexOf(submitter) === -1) buttons.push(submitter);
    buttons.forEach(function (b) {
      b.disabled = true;
      b.classList.add("is-busy");
    });
    var data = new FormData(form);
    fetch(action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.redirected || type.indexOf("json") === -1) {
          // A login redirect, a CSRF or permission page, a server error: let the browser show it.
          form.removeAttribute("data-enhance");
          form.action = action;
          HTMLFormElement.prototype.submit.call(form);
          return;
        }
        return response.json().then(function (payload) {
          Orion.flash(payload.message, payload.level);
          form.dispatchEvent(
            new CustomEvent("orion:answer", { bubbles: true, detail: { payload: payload, status: response.status, form: form } })
          );
        });
      })
      .catch(function () {
        Orion.flash("Could not reach Orion Ops. Check your connection; the page shows the current state once it reconnects.", "error");
      })
      .then(function () {
        buttons.forEach(function (b) {
          if (b.isConnected) {
            b.disabled = false;
            b.classList.remove("is-busy");
          }
        });
      });
  });

  /* Ctrl/Cmd+Enter submits the textarea's form. */
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.matches("textarea")) {
      var form = event.target.form;
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
    }
  });

  /* Show a field only for the matching choice (the duplicate's original for resolution "duplicate"). */
  Orion.syncDependentFields = function (root) {
    (root || document).querySelectorAll("[data-show-for]").forEach(function (el) {
      var form = el.closest("form");
      var select = form && form.querySelector("select[name=resolution]");
      if (select) el.hidden = select.value !== el.dataset.showFor;
    });
  };

  document.addEventListener("change", function (event) {
    if (event.target.matches("select[name=resolution]")) Orion.syncDependentFields(event.target.form);
    var auto = event.target.form && event.target.form.matches("form[data-autosubmit]");
    if (auto) event.target.form.requestSubmit();
  });

  document.addEventListener("DOMContentLoaded", function () {
    Orion.syncDependentFields(document);
    Orion.tick();
    setInterval(Orion.tick, 1000);
  });
})();
