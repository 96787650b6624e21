// Fieldpace page behaviour: CSRF header for htmx, busy buttons, location for visits, form drafts.
// No inline script anywhere (strict CSP): everything is wired from data attributes here.
(function () {
  "use strict";

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  // Every unsafe htmx request carries the CSRF token from the (non-HttpOnly) CSRF cookie.
  document.addEventListener("htmx:configRequest", function (e) {
    var token = cookie("fieldpace_csrf");
    if (token) e.detail.headers["X-CSRFToken"] = token;
  });

  // Tables become cards on a phone (app.css, "Phones"): each cell carries its column's name as
  // data-label, copied from the table's head, on load and after every htmx swap.
  function labelTables() {
    document.querySelectorAll("table.table").forEach(function (table) {
      var head = table.tHead && table.tHead.rows[0];
      if (!head) return;
      var names = [];
      Array.prototype.forEach.call(head.cells, function (th) {
        for (var i = 0; i < (th.colSpan || 1); i++) names.push(th.textContent.trim());
      });
      var sections = Array.prototype.slice.call(table.tBodies);
      if (table.tFoot) sections.push(table.tFoot);
      sections.forEach(function (section) {
        Array.prototype.forEach.call(section.rows, function (row) {
          var column = 0;
          Array.prototype.forEach.call(row.cells, function (cell) {
            if ((cell.colSpan || 1) === 1 && names[column] && !cell.hasAttribute("data-label")) {
              cell.setAttribute("data-label", names[column]);
            }
            column += cell.colSpan || 1;
          });
        });
      });
    });
  }
  labelTables();
  document.addEventListener("htmx:afterSettle", labelTables);

  // Busy state: the clicked submit button says "Saving…" and cannot be pressed twice.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var button = e.submitter;
    if (!button || !button.dataset || !button.dataset.busyLabel) return;
    if (button.name) {
      // A disabled button is not submitted: keep its name/value in a hidden input.
      var hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = button.name; hidden.value = button.value;
      form.appendChild(hidden);
    }
    setTimeout(function () {
      button.dataset.label = button.textContent;
      button.textContent = button.dataset.busyLabel;
      button.setAttribute("aria-busy", "true");
      button.disabled = true;
    }, 0);
  });
  document.addEventListener("htmx:afterRequest", function () {
    document.querySelectorAll("button[aria-busy=true]").forEach(function (b) {
      b.disabled = false; b.removeAttribute("aria-busy");
      if (b.dataset.label) b.textContent = b.dataset.label;
    });
  });
  // Coming back with the browser's back button must not leave buttons stuck.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[aria-busy=true]").forEach(function (b) {
      b.disabled = false; b.removeAttribute("aria-busy");
      if (b.dataset.label) b.textContent = b.dataset.label;
    });
  });

  // Location for a visit: asked when the form opens (if permitted) or when the rep taps the button.
  function locate(field, ask) {
    var status = field.querySelector(".location-status");
    var set = function (name, value) { field.querySelector("input[name=" + name + "]").value = value; };
    if (!("geolocation" in navigator)) return;
    if (ask) status.textContent = status.dataset.statusWaiting;
    navigator.geolocation.getCurrentPosition(function (pos) {
      set("latitude", pos.coords.latitude.toFixed(6));
      set("longitude", pos.coords.longitude.toFixed(6));
      set("accuracy_m", Math.round(pos.coords.accuracy));
      status.textContent = status.dataset.statusFound.replace("{m}", Math.round(pos.coords.accuracy));
    }, function () {
      if (ask) status.textContent = status.dataset.statusDenied;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  function initLocation() {
    var field = document.getElementById("location-field");
    if (!field) return;
    var button = field.querySelector("[data-locate]");
    if (button) button.addEventListener("click", function () { locate(field, true); });
    var lat = field.querySelector("input[name=latitude]");
    if (lat && !lat.value && navigator.permissions) {
      navigator.permissions.query({ name: "geolocation" }).then(function (p) {
        if (p.state === "granted") locate(field, false);
      }).catch(function () {});
    }
  }

  // Drafts: what the rep types is kept in localStorage until the server confirms the save, so a
  // dropped connection, a closed tab or an expired session never loses it.
  // Keyed to the signed-in user, so the next person on a shared phone never sees another's typing.
  var DRAFT_PREFIX = "fieldpace.draft." + ((document.body && document.body.dataset.user) || "anon") + ".";
  function initDrafts() {
    document.querySelectorAll("form[data-draft-key]").forEach(function (form) {
      var key = DRAFT_PREFIX + form.dataset.draftKey;
      var hasErrors = !!document.querySelector(".field-error, .alert-error");
      var saved = null;
      try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
      if (saved && !hasErrors) {
        Object.keys(saved).forEach(function (name) {
          var el = form.elements[name];
          if (!el || name === "_csrf_token" || name === "id") return;
          if (el instanceof RadioNodeList) {  // a choice (a rating level): restored when none is chosen yet
            if (!el.value && saved[name]) Array.prototype.forEach.call(el, function (r) { if (r.value === saved[name]) r.checked = true; });
            return;
          }
          if (el.type === "radio") return;
          if (typeof el.value === "string" && !el.value && saved[name]) el.value = saved[name];
          else if (el.tagName === "TEXTAREA" && saved[name] && saved[name] !== el.value && saved[name].length > el.value.length) el.value = saved[name];
        });
      }
      form.addEventListener("input", function () {
        var data = {};
        Array.prototype.forEach.call(form.elements, function (el) {
          if (el.name && el.name !== "_csrf_token" && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && ["text", "tel", "search", "date", "datetime-local"].indexOf(el.type) >= 0))) data[el.name] = el.value;
          else if (el.name && el.type === "radio" && el.checked) data[el.name] = el.value;
        });
        try { localStorage.setItem(key, JSON.stringify(data)); } catch (e) { /* storage full: the form itself still holds the text */ }
      });
    });
    // A success message on the page means the last save reached the server: forget its draft.
    if (document.querySelector(".flash-success")) {
      Object.keys(localStorage).forEach(function (k) {
        if (k.indexOf(DRAFT_PREFIX) === 0 && !document.querySelector("form[data-draft-key='" + k.slice(DRAFT_PREFIX.length) + "']")) localStorage.removeItem(k);
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    initLocation();
    initDrafts();
  });
})();
