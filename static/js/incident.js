/* Incident page live updates: new timeline entries (rendered by _timeline.html), and the header and
 * actions again when the incident changed. Someone typing in the actions is not interrupted: the
 * block is marked out of date instead, and a move from a stale page is refused by the server (409). */
(function () {
  "use strict";

  var root = document.getElementById("incident");
  if (!root || !window.Orion) return;
  var Orion = window.Orion;
  var timeline = document.getElementById("timeline");
  var cursor = root.dataset.cursor;
  var lastEntry = Number(root.dataset.lastEntry) || 0;

  function newestFirst() {
    return root.dataset.order !== "asc";
  }

  /* Replace a block with its fresh rendering; unless forced, skip it when its version is unchanged. */
  function replaceFrom(containerId, html, force) {
    var container = document.getElementById(containerId);
    if (!container || html == null) return false;
    var incoming = Orion.fragment(html).firstElementChild;
    var current = container.firstElementChild;
    var same = incoming && current && incoming.dataset.version && incoming.dataset.version === current.dataset.version;
    if (same && !force) return false;
    container.innerHTML = html;
    Orion.syncDependentFields(container);
    return true;
  }

  function busy(container) {
    if (!container) return false;
    if (container.querySelector("details[open]")) return true;
    var active = document.activeElement;
    return active && container.contains(active) && (active.value || "").trim() !== "" && active.matches("textarea, input[type=text]");
  }

  function applyFragments(fragments, options) {
    var changed = replaceFrom("incident-header", fragments.header, options.force);
    var actions = document.getElementById("incident-actions");
    if (fragments.actions != null) {
      if (!options.force && busy(actions)) {
        var current = actions.firstElementChild;
        var incoming = Orion.fragment(fragments.actions).firstElementChild;
        if (current && incoming && current.dataset.version !== incoming.dataset.version && !actions.querySelector(".stale-note")) {
          current.classList.add("is-stale");
          var note = document.createElement("p");
          note.className = "field-error stale-note";
          note.textContent = "This incident changed while you were typing. Your move may be refused; copy your note before reloading.";
          current.prepend(note);
        }
      } else {
        changed = replaceFrom("incident-actions", fragments.actions, options.force) || changed;
      }
    }
    if (fragments.note_form != null && options.noteForm) {
      document.getElementById("note-box").innerHTML = fragments.note_form;
    }
    return changed;
  }

  function addEntries(html) {
    var added = 0;
    Orion.fragment(html)
      .querySelectorAll("li.entry")
      .forEach(function (entry) {
        var id = Number(entry.dataset.id);
        lastEntry = Math.max(lastEntry, id);
        if (document.getElementById(entry.id)) return;
        entry.classList.add("is-new");
        // Entries arrive oldest first; keep the page's order whichever way it reads.
        if (newestFirst()) timeline.insertBefore(entry, timeline.firstElementChild);
        else timeline.appendChild(entry);
        added += 1;
      });
    if (added) {
      var count = document.getElementById("timeline-count");
      if (count) count.textContent = String((Number(count.textContent) || 0) + added);
    }
    return added > 0;
  }

  var poller = Orion.poller(function () {
    var params = new URLSearchParams({ since: cursor, after: String(lastEntry) });
    return Orion.getJSON(root.dataset.changesUrl + "?" + params.toString()).then(function (data) {
      cursor = data.cursor;
      var changed = data.timeline_html ? addEntries(data.timeline_html) : false;
      if (data.fragments) changed = applyFragments(data.fragments, {}) || changed;
      if (changed) Orion.tick();
      return changed;
    });
  });

  /* The answer to our own action: fresh header and actions now (also after a 409), then the timeline. */
  document.addEventListener("orion:answer", function (event) {
    var payload = event.detail.payload;
    var fromNote = event.detail.form.classList.contains("note-form");
    if (payload.fragments) applyFragments(payload.fragments, { force: true, noteForm: fromNote });
    if (fromNote && payload.ok) {
      var text = document.querySelector("#note-box textarea");
      if (text) text.focus();
    } else {
      var first =
        document.querySelector("#incident-actions .has-error textarea, #incident-actions .has-error input, #incident-actions .has-error select") ||
        document.querySelector("#incident-actions button, #incident-actions summary");
      if (first && first.focus) first.focus();
    }
    Orion.tick();
    poller.now();
  });

  /* Newest/oldest toggle without a reload; the links still work without scripts. */
  document.querySelectorAll(".order-toggle a[data-order]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var order = link.dataset.order;
      if (order !== root.dataset.order) {
        root.dataset.order = order;
        Array.prototype.slice.call(timeline.children).reverse().forEach(function (entry) {
          timeline.appendChild(entry);
        });
      }
      document.querySelectorAll(".order-toggle a[data-order]").forEach(function (other) {
        other.setAttribute("aria-pressed", other === link ? "true" : "false");
      });
      var url = new URL(window.location.href);
      url.searchParams.set("order", order);
      window.history.replaceState(null, "", url);
    });
  });
})();
