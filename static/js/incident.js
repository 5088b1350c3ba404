/* Incident page: its one live channel. Each poll of /incidents/{id}/changes/ brings the timeline entries the
 * page lacks and every fragment ([data-live-fragment]: header, actions, each panel's body) whose version
 * changed; the page sends back the versions it shows. Fragments are patched in place, never by reloading:
 * open <details> stay open and focus stays where it was. A fragment someone is editing (focus in a field,
 * unsent input, or a [data-live-hold] such as a confirmation on screen) is not replaced: it is marked out of
 * date and updated once the input is sent or cleared. */
(function () {
  "use strict";

  var root = document.getElementById("incident");
  if (!root || !window.Orion) return;
  var Orion = window.Orion;
  var timeline = document.getElementById("timeline");
  var cursor = root.dataset.cursor;
  var lastEntry = Number(root.dataset.lastEntry) || 0;
  var versions = {}; // fragment id → version the page shows, as the server named it
  var shown = {}; // fragment id → signature of the HTML the page shows
  var pending = {}; // fragment id → newer HTML held back while someone edits the fragment
  var loadedScripts = {};
  var FIELDS = "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]), textarea, select";
  var STALE_TEXT = "This part of the page changed while you were editing it. It updates once you send or clear what you entered.";
  // What the answer to one of our own forms calls its fragments.
  var ANSWER_FRAGMENTS = { header: "incident-header", actions: "incident-actions" };

  function parse(html) {
    var holder = document.createElement("div");
    holder.appendChild(Orion.fragment(html));
    return holder;
  }

  /* What a fragment shows, minus what differs between two renderings of the same data. */
  function signature(node) {
    var copy = node.cloneNode(true);
    copy.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (input) {
      input.removeAttribute("value");
    });
    copy.querySelectorAll("time[data-relative], .countdown").forEach(function (el) {
      el.textContent = "";
    });
    copy.querySelectorAll(".stale-note").forEach(function (el) {
      el.remove();
    });
    return copy.innerHTML;
  }

  function edited(field) {
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      var options = Array.prototype.slice.call(field.options);
      var defaults = options.filter(function (option) {
        return option.defaultSelected;
      });
      if (!defaults.length) return field.selectedIndex > 0;
      return options.some(function (option) {
        return option.selected !== option.defaultSelected;
      });
    }
    return field.value !== field.defaultValue;
  }

  function held(container) {
    if (container.querySelector("[data-live-hold]")) return true;
    var active = document.activeElement;
    if (active && container.contains(active) && active.matches(FIELDS)) return true;
    return Array.prototype.some.call(container.querySelectorAll(FIELDS), edited);
  }

  function markStale(container) {
    if (container.querySelector(".stale-note")) return;
    var note = document.createElement("p");
    note.className = "field-error stale-note";
    note.setAttribute("role", "status");
    note.textContent = STALE_TEXT;
    if (container.firstElementChild) container.firstElementChild.classList.add("is-stale");
    container.prepend(note);
  }

  function unmarkStale(container) {
    container.querySelectorAll(".stale-note").forEach(function (note) {
      note.remove();
    });
    container.querySelectorAll(".is-stale").forEach(function (el) {
      el.classList.remove("is-stale");
    });
  }

  /* <details> by their id or data-live-key, else by summary text (and which of that text it is). */
  function detailsByKey(container) {
    var seen = {};
    return Array.prototype.map.call(container.querySelectorAll("details"), function (details) {
      var key = details.id || details.dataset.liveKey;
      if (!key) {
        var summary = details.querySelector("summary");
        var text = summary ? summary.textContent.trim() : "";
        seen[text] = (seen[text] || 0) + 1;
        key = text + "#" + seen[text];
      }
      return [key, details];
    });
  }

  function focusKey(el, container) {
    if (el.id) return { id: el.id };
    var tag = el.tagName.toLowerCase();
    return { tag: tag, index: Array.prototype.indexOf.call(container.querySelectorAll(tag), el) };
  }

  function focusFind(key, container) {
    if (key.id) return document.getElementById(key.id);
    return container.querySelectorAll(key.tag)[key.index];
  }

  /* Scripts of a fragment (a panel's own) run once per page: new ones are loaded, known ones not again. */
  function loadScripts(container) {
    container.querySelectorAll("script[src]").forEach(function (inert) {
      if (loadedScripts[inert.src]) return;
      loadedScripts[inert.src] = true;
      var script = document.createElement("script");
      script.src = inert.src;
      document.head.appendChild(script);
    });
  }

  /* Replace a fragment with fresh HTML unless it shows the same already; hold it while someone edits it. */
  function patch(id, html, force) {
    var container = document.getElementById(id);
    if (!container || html == null) return false;
    var incoming = parse(html);
    var mark = signature(incoming);
    if (mark === shown[id]) {
      delete pending[id];
      unmarkStale(container);
      return false;
    }
    if (!force && held(container)) {
      pending[id] = html;
      markStale(container);
      return false;
    }
    var open = {};
    detailsByKey(container).forEach(function (pair) {
      open[pair[0]] = pair[1].open;
    });
    var active = document.activeElement;
    var focus = active && active !== container && container.contains(active) ? focusKey(active, container) : null;

    container.replaceChildren.apply(container, Array.prototype.slice.call(incoming.childNodes));
    shown[id] = mark;
    delete pending[id];

    detailsByKey(container).forEach(function (pair) {
      if (Object.prototype.hasOwnProperty.call(open, pair[0])) pair[1].open = open[pair[0]];
    });
    if (focus) {
      var again = focusFind(focus, container);
      if (again && again.focus) again.focus({ preventScroll: true });
    }
    loadScripts(container);
    Orion.syncDependentFields(container);
    return true;
  }

  function flushPending() {
    var changed = false;
    Object.keys(pending).forEach(function (id) {
      changed = patch(id, pending[id], false) || changed;
    });
    if (changed) Orion.tick();
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
        if (root.dataset.order !== "asc") timeline.insertBefore(entry, timeline.firstElementChild);
        else timeline.appendChild(entry);
        added += 1;
      });
    if (added) {
      var count = document.getElementById("timeline-count");
      if (count) count.textContent = String((Number(count.textContent) || 0) + added);
    }
    return added > 0;
  }

  function known() {
    return Object.keys(versions)
      .map(function (id) {
        return id + ":" + versions[id];
      })
      .join(",");
  }

  // What the server rendered into the page, before any script touched it.
  document.querySelectorAll("script[src]").forEach(function (script) {
    loadedScripts[script.src] = true;
  });
  document.querySelectorAll("[data-live-fragment]").forEach(function (container) {
    shown[container.id] = signature(container);
  });

  var poller = Orion.poller(
    function () {
      var params = new URLSearchParams({ since: cursor, after: String(lastEntry) });
      var holding = known();
      if (holding) params.set("known", holding);
      return Orion.getJSON(root.dataset.changesUrl + "?" + params.toString()).then(function (data) {
        cursor = data.cursor;
        var changed = data.timeline_html ? addEntries(data.timeline_html) : false;
        var fragments = data.fragments || {};
        Object.keys(fragments).forEach(function (id) {
          changed = patch(id, fragments[id], false) || changed;
        });
        if (data.versions) versions = data.versions;
        if (changed) Orion.tick();
        return changed;
      });
    },
    {
      // A diagnostic run or a mitigation in progress: keep asking every 2 s until it ends.
      busy: function () {
        return document.querySelector("[data-live-pending]") !== null;
      },
    }
  );

  // Someone finished editing (left the field, cleared it, sent it): show what was held back.
  document.addEventListener("focusout", function () {
    setTimeout(flushPending, 0);
  });
  document.addEventListener("input", flushPending);
  document.addEventListener("reset", function () {
    setTimeout(flushPending, 0);
  });

  /* The answer to our own action: its fragments now (also after a 400 or 409), the rest at the next poll. */
  document.addEventListener("orion:answer", function (event) {
    var payload = event.detail.payload;
    var form = event.detail.form;
    var fromNote = form.classList.contains("note-form");
    var fragments = payload.fragments || {};
    Object.keys(ANSWER_FRAGMENTS).forEach(function (name) {
      var id = ANSWER_FRAGMENTS[name];
      var container = document.getElementById(id);
      if (fragments[name] != null) patch(id, fragments[name], container !== null && container.contains(form));
    });
    if (fragments.note_form != null && fromNote) {
      document.getElementById("note-box").innerHTML = fragments.note_form;
    }
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
