/* Dashboard live updates: ask for what changed since the last answer, patch rows in place.
 * Rows come from the same template as the page (_incident_rows.html); a row whose version the page
 * already shows is skipped. A new unacknowledged P0/P1 marks the title (and beeps, if sound is on). */
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root || !window.Orion) return;
  var Orion = window.Orion;
  var tbody = document.getElementById("incident-rows");
  var cursor = root.dataset.cursor;
  var baseTitle = document.title;
  var unseen = [];

  function rows() {
    return Array.prototype.slice.call(tbody.querySelectorAll("tr.incident-row"));
  }

  /* data-sort is "severity rank|deadline (s)|id": numbers, compared in turn. */
  function sortKey(row) {
    return row.dataset.sort.split("|").map(Number);
  }

  function comesAfter(key, other) {
    for (var i = 0; i < key.length; i++) {
      if (other[i] !== key[i]) return other[i] > key[i];
    }
    return false;
  }

  function place(row) {
    var key = sortKey(row);
    var before = rows().find(function (other) {
      return comesAfter(key, sortKey(other));
    });
    tbody.insertBefore(row, before || null);
  }

  function absolute(ms) {
    return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  /* Tooltips the rows leave to the script (a hundred rows of markup): when it was detected, and the
   * acknowledgement deadline with its target (deadline minus detection). */
  function describe(row) {
    var time = row.querySelector("time[data-relative]");
    var detected = time ? Date.parse(time.dateTime) : NaN;
    if (!isNaN(detected)) time.title = "Detected " + absolute(detected);
    var sla = row.querySelector("[data-ack-due]");
    var due = sla ? Date.parse(sla.dataset.ackDue) : NaN;
    if (isNaN(due)) return;
    var target = isNaN(detected) ? "" : " within " + Orion.span((due - detected) / 1000) + " of detection,";
    sla.title = "Acknowledge" + target + " by " + absolute(due);
  }
  rows().forEach(describe);

  function syncEmptyState() {
    var empty = document.getElementById("empty-state");
    if (empty) empty.hidden = rows().length > 0;
  }

  /* Title-bar cue and optional sound for a new unacknowledged P0/P1. Cleared when someone looks. */
  function cue(row) {
    unseen.push(row.dataset.severity);
    var worst = unseen.slice().sort()[0];
    document.title = "(" + unseen.length + ") New " + worst + " · " + baseTitle;
    if (sound.enabled()) sound.play();
    document.dispatchEvent(
      new CustomEvent("orion:urgent", { detail: { severity: row.dataset.severity, title: row.dataset.title || "" } })
    );
  }

  function clearCue() {
    if (!unseen.length) return;
    unseen = [];
    document.title = baseTitle;
  }
  window.addEventListener("focus", clearCue);
  document.addEventListener("pointerdown", clearCue);
  document.addEventListener("keydown", clearCue);

  var sound = (function () {
    var button = document.getElementById("sound-toggle");
    var AudioContext = window.AudioContext || window.webkitAudioContext;
    var context = null;
    var key = "orion.sound";
    function enabled() {
      try {
        return AudioContext && window.localStorage.getItem(key) === "on";
      } catch (e) {
        return false;
      }
    }
    function render() {
      if (!button) return;
      var on = enabled();
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.replaceChildren(Orion.icon(on ? "sound" : "sound-off"), document.createTextNode(on ? "Sound on" : "Sound off"));
      button.title = on ? "A quiet beep for each new P0 or P1" : "Turn on a quiet beep for each new P0 or P1";
    }
    function play() {
      try {
        context = context || new AudioContext();
        var start = context.currentTime;
        [0, 0.18].forEach(function (at) {
          var osc = context.createOscillator();
          var gain = context.createGain();
          osc.frequency.value = 880;
          gain.gain.setValueAtTime(0.0001, start + at);
          gain.gain.exponentialRampToValueAtTime(0.06, start + at + 0.02);
          gain.gain.exponentialRampToValueAtTime(0.0001, start + at + 0.14);
          osc.connect(gain).connect(context.destination);
          osc.start(start + at);
          osc.stop(start + at + 0.15);
        });
      } catch (e) {
        /* no audio device: the title cue still works */
      }
    }
    if (button && AudioContext) {
      button.hidden = false;
      render();
      button.addEventListener("click", function () {
        try {
          window.localStorage.setItem(key, enabled() ? "off" : "on");
        } catch (e) {
          return;
        }
        render();
        if (enabled()) play(); // also unlocks audio, which browsers allow only after a click
      });
    }
    return { enabled: enabled, play: play };
  })();

  function apply(data) {
    cursor = data.cursor;
    if (data.resync) {
      window.location.reload();
      return true;
    }
    var changed = false;
    (data.removed || []).forEach(function (id) {
      var row = document.getElementById("incident-" + id);
      if (row) {
        row.remove();
        changed = true;
      }
    });
    if (data.rows_html) {
      Orion.fragment(data.rows_html)
        .querySelectorAll("tr.incident-row")
        .forEach(function (row) {
          var existing = document.getElementById(row.id);
          if (existing && existing.dataset.version === row.dataset.version) return;
          if (existing) {
            existing.remove();
            row.classList.add("is-updated");
          } else {
            row.classList.add("is-new");
            if ((row.dataset.severity === "P0" || row.dataset.severity === "P1") && row.dataset.status === "detected") cue(row);
          }
          describe(row);
          place(row);
          changed = true;
        });
    }
    if (data.counts_html) {
      var counts = document.getElementById("severity-counts");
      if (counts) counts.innerHTML = data.counts_html;
    }
    if (changed) {
      syncEmptyState();
      Orion.tick();
    }
    return changed;
  }

  var poller = Orion.poller(function () {
    var params = new URLSearchParams(root.dataset.query || "");
    params.set("since", cursor);
    return Orion.getJSON(root.dataset.changesUrl + "?" + params.toString()).then(apply);
  });

  /* News that an incident changed, so an alert shows within about a second even on a quiet page
   * whose poller has backed off (the poller stays the safety net). When the page names an event
   * stream (server-sent events), it says so as soon as the change stamp moves, and sends the stamp
   * again every 15 s; otherwise, or while the stream is not open, a check every second asks for the
   * stamp, which costs the server next to nothing. A new stamp asks for the changes at once.
   * Both pause while hidden. */
  var stamp = null;
  var stampUrl = root.dataset.stampUrl;
  var eventsUrl = root.dataset.eventsUrl;
  var source = null;
  var heardAt = 0; /* when the stream last sent anything */
  var reopenDelay = 5000;
  var reopenTimer = null;
  var QUIET_MS = 45000; /* three keepalives missed: the connection is dead though it looks open */

  function stampSeen(value) {
    if (stamp !== null && value !== stamp) poller.now();
    stamp = value;
  }

  function streaming() {
    return source !== null && source.readyState === 1; /* EventSource.OPEN */
  }

  function eventsOpen() {
    if (!eventsUrl || !stampUrl || !window.EventSource || source || reopenTimer || document.hidden) return;
    source = new EventSource(eventsUrl);
    heardAt = Date.now();
    source.addEventListener("open", function () {
      heardAt = Date.now();
      reopenDelay = 5000;
    });
    source.addEventListener("stamp", function (event) {
      heardAt = Date.now();
      if (event.data !== "") stampSeen(Number(event.data));
    });
    source.addEventListener("error", function () {
      /* Dropped: the browser reconnects by itself; the one-second check covers the gap. Answered
       * with an error status (a proxy's 502, a rollout's 404), the browser gives up: open it again
       * later, further apart each time. An expired token shows as the check's 403. */
      if (source && source.readyState === 2) eventsReopenLater();
    });
  }

  function eventsClose() {
    if (source) source.close();
    source = null;
    clearTimeout(reopenTimer);
    reopenTimer = null;
  }

  function eventsReopenLater() {
    eventsClose();
    reopenTimer = setTimeout(function () {
      reopenTimer = null;
      eventsOpen();
    }, reopenDelay);
    reopenDelay = Math.min(60000, reopenDelay * 2);
  }

  function checkStamp() {
    if (streaming() && Date.now() - heardAt > QUIET_MS) eventsReopenLater();
    if (document.hidden || !stampUrl || streaming()) return;
    fetch(stampUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 403) {
          stampUrl = null; /* token expired: the poller carries on alone */
          eventsClose();
        }
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data) stampSeen(data.changed);
      })
      .catch(function () {
        /* the poller reports connection trouble */
      });
  }
  eventsOpen();
  checkStamp();
  window.setInterval(checkStamp, 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      eventsClose();
    } else {
      reopenDelay = 5000;
      eventsOpen();
    }
  });

  /* After an acknowledge from a row: fetch the change at once. */
  document.addEventListener("orion:answer", function () {
    poller.now();
  });
})();
