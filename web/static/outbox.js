// Fieldpace outbox: what a rep logs is kept on the phone (IndexedDB) until the server acknowledges it.
//
// Invariants (docs/sync-protocol.md):
// - The outbox is the source of truth until the server answers a mutation: only "applied" and
//   "duplicate" remove an item. Rejected and conflicting items stay, visible, until the rep fixes or
//   discards them. Network errors, 5xx and 401 keep everything.
// - Each device numbers its mutations 1, 2, 3... per user, in the same IndexedDB transaction that stores
//   the mutation, and always sends them oldest first, so the server can apply them exactly once, in order.
// - One sync at a time per device: a Web Lock spans tabs (and the service worker, which loads this file).
// - No gap the device cannot fill: a batch the server refuses whole (413 too large, 400 unreadable) is
//   halved and resent, down to one mutation; a single mutation still refused is sent once more as a stub
//   (its payload left out), which the server rejects like any unreadable change, so its seq is processed
//   and the ones after it can apply. The full item stays on the phone under "needs attention".
// Runs in pages and in the service worker; everything that touches the DOM checks for `document`.
(function (global) {
  "use strict";

  // A form draft's localStorage key (the same as app.js's): keyed to the signed-in user, so the next
  // person on a shared phone never sees another's typing.
  function draftStorageKey(key) {
    var user = (typeof document !== "undefined" && document.body && document.body.dataset.user) || "anon";
    return "fieldpace.draft." + user + "." + key;
  }

  var PROTOCOL = 1;
  var SCHEMA = 1;
  var BATCH = 50;
  var batchSize = BATCH;  // halved when the server refuses a batch as too large; grows back on success
  var DB_NAME = "fieldpace";
  var hasDOM = typeof document !== "undefined";

  // --- IndexedDB -----------------------------------------------------------------------------------
  var dbPromise = null;
  function openDB() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = function () {
        var db = req.result;
        db.createObjectStore("meta", { keyPath: "key" });
        var outbox = db.createObjectStore("outbox", { keyPath: "key" });
        outbox.createIndex("user", "user");
        var records = db.createObjectStore("records", { keyPath: "key" });
        records.createIndex("user_type", ["user", "type"]);
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { dbPromise = null; reject(req.error); };
    });
    return dbPromise;
  }
  function tx(stores, mode, work) {
    return openDB().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(stores, mode);
        var result;
        t.oncomplete = function () { resolve(result); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error || new Error("aborted")); };
        result = work(t);
        if (result && typeof result.then === "function") {
          result.then(function (v) { result = v; }, function (e) { try { t.abort(); } catch (x) { /* already done */ } reject(e); });
        }
      });
    });
  }
  function req(r) {
    return new Promise(function (resolve, reject) {
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }
  function getMeta(key) {
    return tx(["meta"], "readonly", function (t) { return req(t.objectStore("meta").get(key)); })
      .then(function (row) { return row ? row.value : undefined; });
  }
  function setMeta(key, value) {
    return tx(["meta"], "readwrite", function (t) { t.objectStore("meta").put({ key: key, value: value }); });
  }
  function itemsFor(user) {
    return tx(["outbox"], "readonly", function (t) { return req(t.objectStore("outbox").index("user").getAll(user)); })
      .then(function (rows) { return (rows || []).sort(function (a, b) { return a.seq - b.seq; }); });
  }

  function uuid() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // --- Who and which device --------------------------------------------------------------------------
  function pageUser() { return hasDOM && document.body ? document.body.dataset.user || "" : ""; }
  function currentUser() {
    var u = pageUser();
    return u ? Promise.resolve(u) : getMeta("lastUser").then(function (v) { return v || ""; });
  }
  function cookie(name) {
    if (!hasDOM) return "";
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function csrfToken() {
    var c = cookie("fieldpace_csrf");
    return c ? Promise.resolve(c) : getMeta("csrf").then(function (v) { return v || ""; });
  }

  // --- Enqueue -----------------------------------------------------------------------------------------
  // One transaction numbers the mutation and stores it: a crash between the two cannot reuse a seq.
  function enqueue(kind, recordId, payload, title) {
    return currentUser().then(function (user) {
      if (!user) throw new Error("not signed in");
      return tx(["meta", "outbox"], "readwrite", function (t) {
        var meta = t.objectStore("meta");
        return Promise.all([req(meta.get("seq:" + user)), req(meta.get("device:" + user))]).then(function (got) {
          var seq = (got[0] ? got[0].value : 0) + 1;
          var device = got[1] ? got[1].value : uuid();
          meta.put({ key: "seq:" + user, value: seq });
          meta.put({ key: "device:" + user, value: device });
          var item = {
            key: user + ":" + String(seq).padStart(12, "0"), user: user, device: device, seq: seq, kind: kind,
            record_id: recordId, payload: payload, title: title || "", client_time: new Date().toISOString(),
            status: "pending", errors: null,
          };
          t.objectStore("outbox").put(item);
          return item;
        });
      });
    }).then(function (item) {
      if (global.navigator && navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
      if (hasDOM && global.navigator && navigator.serviceWorker && navigator.serviceWorker.ready) {
        navigator.serviceWorker.ready.then(function (reg) {
          if (reg.sync && reg.sync.register) return reg.sync.register("fieldpace-outbox");
        }).catch(function () { /* Background Sync is a bonus, not relied on */ });
      }
      refreshUI();
      return item;
    });
  }

  function pendingCount() {
    return currentUser().then(function (user) {
      return user ? itemsFor(user).then(function (rows) { return rows.length; }) : 0;
    });
  }

  // --- Sync ----------------------------------------------------------------------------------------
  var attempt = 0;
  var retryTimer = null;
  var retryAt = 0;  // the periodic sync waits until then after a failure or an all-"retry" answer
  var state = { signin: false, update: false, offline: false, error: false };

  function scheduleRetry() {
    attempt = Math.min(attempt + 1, 9);
    var base = Math.min(300000, 1000 * Math.pow(2, attempt));
    var delay = base / 2 + Math.random() * base / 2; // exponential backoff with jitter
    retryAt = Date.now() + delay;
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = setTimeout(syncNow, delay);
  }

  function resetBackoff() { attempt = 0; retryAt = 0; }

  function syncNow() {
    if (global.navigator && navigator.locks && navigator.locks.request) {
      return navigator.locks.request("fieldpace-sync", { ifAvailable: true }, function (lock) {
        return lock ? runSync() : null;
      });
    }
    return runSync();
  }

  function runSync() {
    return currentUser().then(function (user) {
      if (!user) return;
      return pushAll(user).then(function (ok) {
        if (ok) return pull(user).then(function () { return warmReadOnlyPages(user); });
      }).then(function () { return sendPhotos(user); });
    }).catch(function () { scheduleRetry(); }).then(refreshUI);
  }

  // Visit photos go after the mutations, each its own upload (the photo section at the end of this file).
  function sendPhotos(user) {
    var upload = global.fieldpaceOutbox && global.fieldpaceOutbox.uploadPhotos;
    return upload ? upload(user, csrfToken, acceptLanguage()) : null;
  }

  function pushAll(user) {
    return itemsFor(user).then(function (rows) {
      var pending = rows.filter(function (r) { return r.status === "pending"; });
      if (!pending.length) { state.error = false; state.offline = false; return true; }
      var batch = pending.slice(0, batchSize);
      return csrfToken().then(function (token) {
        var body = {
          protocol: PROTOCOL, schema: SCHEMA, device_id: batch[0].device, sent_at: new Date().toISOString(),
          mutations: batch.map(function (r) {
            // A stub leaves the payload out: the server rejects it as unreadable, which advances the seq.
            return { seq: r.seq, kind: r.kind, record_id: r.record_id, payload: r.stub ? null : r.payload, client_time: r.client_time };
          }),
        };
        return fetch("/api/v1/sync/push", {
          method: "POST", credentials: "same-origin", body: JSON.stringify(body),
          headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept-Language": acceptLanguage() },
        });
      }).then(function (response) {
        state.offline = false;
        if (response.status === 401 || response.status === 403) {
          state.signin = true;  // keep the queue; signing in again renews the session and the CSRF token
          return false;
        }
        if (response.status >= 500) { state.error = true; scheduleRetry(); return false; }
        if (response.status === 413 || response.status === 400) return refused(user, batch, response);
        return response.json().then(function (reply) {
          if (response.status >= 400) {
            // The server cannot read this push at all: mark the batch for attention rather than jam.
            return markAll(batch, "rejected", { "": reply.title || String(response.status) }).then(function () { return true; });
          }
          if (reply.status === "update_required") {
            state.update = true;
            if (global.navigator && navigator.serviceWorker) navigator.serviceWorker.getRegistration().then(function (r) { if (r) r.update(); });
            return false;
          }
          state.signin = false; state.error = false;
          var results = reply.results || [];
          var allRetry = results.length > 0 && results.every(function (res) { return res.status === "retry"; });
          if (allRetry) {
            // An earlier seq has not reached the server yet: wait (backoff, jitter) rather than resend at once.
            scheduleRetry();
            return false;
          }
          resetBackoff();
          batchSize = Math.min(BATCH, batchSize * 2);
          return applyResults(batch, results).then(function () {
            return pending.length > batch.length ? pushAll(user) : true;
          });
        });
      }, function () {
        state.offline = true;  // network error: retry later, keep everything
        scheduleRetry();
        return false;
      });
    });
  }

  // The server refused the whole batch (413: too large; 400: unreadable). Halve it and send again; a
  // single mutation goes once more as a stub, so its seq is processed; a stub refused too (a client bug)
  // is marked for attention.
  function refused(user, batch, response) {
    var reason = response.status === 413 ? "too_large" : "unreadable";
    if (batch.length > 1) {
      batchSize = Math.max(1, Math.floor(batch.length / 2));
      return pushAll(user);
    }
    var item = batch[0];
    if (item.stub) {
      return markAll(batch, "rejected", { "": "" }).then(function () { return pushAll(user); });
    }
    item.stub = true;
    item.localReason = reason;
    return tx(["outbox"], "readwrite", function (t) { t.objectStore("outbox").put(item); }).then(function () {
      return pushAll(user);
    });
  }

  function markAll(batch, status, errors) {
    return tx(["outbox"], "readwrite", function (t) {
      batch.forEach(function (r) { r.status = status; r.errors = errors; t.objectStore("outbox").put(r); });
    });
  }

  function applyResults(batch, results) {
    var bySeq = {};
    batch.forEach(function (r) { bySeq[r.seq] = r; });
    return tx(["outbox"], "readwrite", function (t) {
      var store = t.objectStore("outbox");
      (results || []).forEach(function (res) {
        var item = bySeq[res.seq];
        if (!item) return;
        if (res.status === "applied" || res.status === "duplicate") {
          // A stub "applied" cannot happen (the server never applies an unreadable change); keep the item.
          if (item.stub) { item.status = "rejected"; item.stub = false; store.put(item); } else store.delete(item.key);
        } else if (res.status === "rejected" || res.status === "conflict") {
          // A stub's own reason (too large) is what the rep needs to read, not "could not be read".
          item.status = res.status; item.errors = item.stub ? {} : (res.errors || {}); item.stub = false; store.put(item);
        } // "retry": an earlier mutation is missing on the server; keep it pending
      });
    });
  }

  function pull(user) {
    return getMeta("cursor:" + user).then(function (cursor) {
      cursor = cursor || 0;
      return fetch("/api/v1/sync/pull?cursor=" + cursor + "&limit=" + PULL_PAGE, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) return null;
        return r.json();
      }).then(function (body) {
        if (!body) return;
        return storePulled(user, body.changes, body.cursor).then(function () { if (body.more) return pull(user); });
      });
    }).catch(function () { /* offline data stays as it was */ });
  }

  // Pulled changes are stored a slice at a time, each slice in a task of its own, so a first pull of hundreds
  // of records never holds the page's main thread for long. The cursor moves with the last slice; a pull cut
  // short stores its slices again next time (puts and deletes by key: the same result).
  // A first pull brings every record of the rep: asked for and stored in small parts, each parsed and
  // written in its own task, so the phone answers taps meanwhile (no long task on the main thread).
  var PULL_PAGE = 200;
  var PULL_SLICE = 25;
  function storePulled(user, changes, cursor) {
    var slice = changes.slice(0, PULL_SLICE), rest = changes.slice(PULL_SLICE);
    return tx(rest.length ? ["records"] : ["records", "meta"], "readwrite", function (t) {
      var store = t.objectStore("records");
      slice.forEach(function (c) {
        var key = user + "|" + c.type + "|" + c.id;
        if (c.op === "delete") store.delete(key);
        else store.put({ key: key, user: user, type: c.type, id: c.id, data: c.data });
      });
      if (!rest.length) t.objectStore("meta").put({ key: "cursor:" + user, value: cursor });
    }).then(function () {
      if (!rest.length) return;
      return new Promise(function (resolve) { setTimeout(resolve, 0); }).then(function () { return storePulled(user, rest, cursor); });
    });
  }

  function localRecords(user, type) {
    return tx(["records"], "readonly", function (t) {
      return req(t.objectStore("records").index("user_type").getAll([user, type]));
    }).then(function (rows) { return (rows || []).map(function (r) { return r.data; }); });
  }

  function acceptLanguage() {
    return hasDOM ? (document.documentElement.lang || "en") : "en";
  }

  // --- Page behaviour (only with a DOM) ---------------------------------------------------------------
  function labels() {
    var el = hasDOM && document.getElementById("outbox-labels");
    return el ? el.dataset : {};
  }

  function refreshUI() {
    if (!hasDOM) return;
    currentUser().then(function (user) {
      if (!user) return [];
      return itemsFor(user);
    }).then(function (rows) {
      var badge = document.getElementById("sync-badge");
      if (badge) {
        badge.hidden = rows.length === 0;
        var count = badge.querySelector("[data-count]");
        if (count) count.textContent = String(rows.length);
        badge.classList.toggle("needs-attention", rows.some(function (r) { return r.status !== "pending"; }));
      }
      var signin = document.getElementById("signin-banner");
      if (signin) signin.hidden = !state.signin;
      var status = document.querySelector("[data-sync-status]");
      if (status) {
        var l = labels();
        status.textContent = state.signin ? l.signin : state.update ? l.update : state.offline ? l.offline
          : state.error ? l.error : rows.length ? "" : l.synced;
      }
      renderOutboxPage(rows);
      renderPendingLists(rows);
    }).catch(function () {});
  }

  function textOf(payload) {
    return ["outcome", "next_step", "summary", "results", "problems", "plan", "name", "contact_name", "phone"]
      .filter(function (k) { return payload[k]; })
      .map(function (k) { return payload[k]; }).join("\n");
  }

  function renderOutboxPage(rows) {
    var pendingList = document.getElementById("outbox-pending");
    var attentionList = document.getElementById("outbox-attention");
    var template = document.getElementById("outbox-item");
    if (!pendingList || !attentionList || !template) return;
    var l = labels();
    [pendingList, attentionList].forEach(function (list) { list.textContent = ""; });
    rows.forEach(function (r) {
      var node = template.content.firstElementChild.cloneNode(true);
      var kindLabel = r.kind === "visit.create" ? l.kindVisit : r.kind === "customer.create" ? l.kindCustomer : l.kindReport;
      node.querySelector("[data-field=title]").textContent = kindLabel + (r.title ? " · " + r.title : "");
      node.querySelector("[data-field=state]").textContent =
        r.status === "pending" ? l.statePending : r.status === "conflict" ? l.stateConflict : l.stateRejected;
      node.querySelector("[data-field=when]").textContent = new Date(r.client_time).toLocaleString(document.documentElement.lang);
      var reasons = r.errors ? Object.keys(r.errors).map(function (k) { return r.errors[k]; }).join(" ") : "";
      if (r.localReason && r.status !== "pending") reasons = (r.localReason === "too_large" ? l.tooLarge : l.unreadable) + (reasons ? " " + reasons : "");
      node.querySelector("[data-field=reason]").textContent = reasons;
      node.querySelector("[data-field=text]").textContent = textOf(r.payload || {});
      node.dataset.key = r.key;
      if (r.status !== "pending") {
        var actions = node.querySelector("[data-field=actions]");
        actions.hidden = false;
        actions.querySelector("[data-action=fix]").href = fixUrl(r);
      }
      if (r.status === "conflict" && r.kind === "report.save") showTheirs(node, r);
      (r.status === "pending" ? pendingList : attentionList).appendChild(node);
    });
    [pendingList, attentionList].forEach(function (list) {
      if (!list.children.length) {
        var li = document.createElement("li"); li.className = "empty"; li.textContent = list.dataset.empty; list.appendChild(li);
      }
    });
  }

  // A report saved on another device meanwhile: its stored text (pulled onto this phone) beside the rep's,
  // with the choice of which to keep.
  function theirsFor(item) {
    var p = item.payload || {};
    return localRecords(item.user, "report").then(function (reports) {
      return reports.filter(function (x) { return x.kind === p.kind && String(x.period_start).slice(0, 10) === p.period_start; })[0] || null;
    });
  }

  function showTheirs(node, item) {
    theirsFor(item).then(function (theirs) {
      if (!theirs) return;
      var box = node.querySelector("[data-field=theirs]");
      if (!box) return;
      box.querySelector("[data-field=theirs-text]").textContent = textOf(theirs);
      box.hidden = false;
    }).catch(function () {});
  }

  // "Keep mine": the rep's text is saved again, now based on the version they have seen.
  function keepMine(key) {
    return currentUser().then(itemsFor).then(function (rows) {
      var item = rows.filter(function (r) { return r.key === key; })[0];
      if (!item) return;
      return theirsFor(item).then(function (theirs) {
        var payload = Object.assign({}, item.payload, { revision: uuid() });
        var recordId = item.record_id;
        if (theirs) {
          recordId = theirs.id;
          payload.id = theirs.id;
          payload.base_version = theirs.version || 0;
          payload.base_revision = theirs.revision || "";
        }
        return enqueue(item.kind, recordId, payload, item.title).then(function () { return discard(key); });
      });
    }).then(function () { syncNow(); });
  }

  // "Fix" opens the form again with the rep's text in it (a draft), as a new record.
  function fixUrl(item) {
    var p = item.payload || {};
    var key = item.kind === "visit.create" ? "visit-new" : item.kind === "customer.create" ? "customer-new"
      : "report-" + p.kind + "-" + p.period_start;
    var draft = {};
    var own = ["base_version", "base_revision", "revision", "submit"];  // the form brings its own
    Object.keys(p).forEach(function (k) { if (typeof p[k] === "string" && own.indexOf(k) < 0) draft[k] = p[k]; });
    try { localStorage.setItem(draftStorageKey(key), JSON.stringify(draft)); } catch (e) { /* storage full */ }
    var url = item.kind === "visit.create" ? "/visits/new" : item.kind === "customer.create" ? "/customers/new"
      : "/reports/" + p.kind + "/" + p.period_start;
    if (item.kind === "visit.create" && p.customer) url += "?customer=" + encodeURIComponent(p.customer);
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "fix=" + encodeURIComponent(item.key);
  }

  function discard(key) {
    return tx(["outbox"], "readwrite", function (t) { t.objectStore("outbox").delete(key); }).then(refreshUI);
  }

  // Items still waiting show up in the lists where the rep expects them, marked as waiting.
  function renderPendingLists(rows) {
    var l = labels();
    var waiting = (document.body && document.body.dataset.waitingLabel) || l.statePending || "";
    document.querySelectorAll("[data-pending-list]").forEach(function (list) {
      var kind = list.dataset.pendingList;
      list.querySelectorAll("li.pending-item").forEach(function (n) { n.remove(); });
      rows.filter(function (r) { return r.kind === kind && r.status === "pending"; }).forEach(function (r) {
        if (list.dataset.pendingDay && r.kind === "visit.create") {
          var day = (r.payload.checkin_at || r.client_time || "").slice(0, 10);
          if (day && day !== list.dataset.pendingDay) return;
        }
        var li = document.createElement("li");
        li.className = "pending-item";
        var a = document.createElement("a");
        a.href = "/sync";
        var strong = document.createElement("strong");
        strong.textContent = r.title || r.payload.name || "";
        var pill = document.createElement("span");
        pill.className = "pill pill-warn";
        pill.textContent = waiting;
        a.appendChild(strong); a.appendChild(document.createTextNode(" ")); a.appendChild(pill);
        li.appendChild(a);
        var empty = list.querySelector("li.empty");
        if (empty) empty.hidden = true;
        list.insertBefore(li, list.firstChild);
      });
    });
  }

  // A form with data-offline-kind posts normally when the network works; when it does not (offline,
  // a network error, a 5xx, or an expired sign-in) the same record, with the same id, goes to the outbox.
  function payloadOf(form) {
    var data = {};
    new FormData(form).forEach(function (value, name) {
      if (name === "_csrf_token" || name === "q" || name === "next" || typeof value !== "string") return;
      data[name] = value;
    });
    return data;
  }

  function titleOf(form, kind, data) {
    if (kind === "visit.create") {
      var checked = form.querySelector("input[name=customer]:checked");
      var label = checked && form.querySelector("label[for='" + checked.id + "']");
      return label ? label.textContent.trim() : "";
    }
    if (kind === "customer.create") return data.name || "";
    var heading = document.querySelector("main h1");
    return (heading ? heading.textContent.trim() + " · " : "") + (data.period_start || "");
  }

  function showStorageFull() {
    var el = document.getElementById("storage-full");
    if (el) { el.hidden = false; el.scrollIntoView(); }
  }

  // A report saved again while an earlier save of it still waits in the outbox is based on that save,
  // not on the version the (cached) form was rendered with, so the two never conflict with each other.
  function chainReportSave(data) {
    return currentUser().then(itemsFor).then(function (rows) {
      var earlier = rows.filter(function (r) {
        return r.kind === "report.save" && r.status === "pending" && r.payload.kind === data.kind && r.payload.period_start === data.period_start;
      }).pop();
      if (earlier && earlier.payload.revision) {
        data.base_revision = earlier.payload.revision;
        data.base_version = Number(earlier.payload.base_version || 0) + 1;
      }
    }).catch(function () {});
  }

  // Where a queued form goes next: its data-offline-next, or back to the visit form with the new customer
  // chosen when the customer form was opened from it (`?next=visit`: the cached copy of the customer form
  // was rendered without it, so the page's own URL says so too).
  function queuedNext(form, kind, recordId) {
    var next = form.dataset.offlineNext || "/sync";
    var field = form.querySelector("input[name=next]");
    var wanted = (field && field.value) || new URLSearchParams(location.search).get("next") || "";
    if (kind === "customer.create" && wanted === "visit") next = "/visits/new?customer=" + encodeURIComponent(recordId);
    return next + (next.indexOf("?") < 0 ? "?" : "&") + "queued=1";
  }

  // `stay`: the sign-in expired. The change is kept and the rep stays on the page, told so, with the
  // sign-in link: a page of the app would now answer with the sign-in page.
  function queueForm(form, kind, data, submitter, stay) {
    var recordId = data.id || uuid();
    data.id = recordId;
    var ready = Promise.resolve();
    if (kind === "report.save") {
      data.submit = !!(submitter && submitter.value === "submit");
      data.revision = uuid();
      ready = chainReportSave(data);
    }
    return ready.then(function () { return enqueue(kind, recordId, data, titleOf(form, kind, data)); }).then(function () {
      try { localStorage.removeItem(draftStorageKey(form.dataset.draftKey)); } catch (e) { /* ignore */ }
      if (stay) { showQueuedNote(true); return; }
      location.assign(queuedNext(form, kind, recordId));
    }, function (error) {
      if (error && (error.name === "QuotaExceededError" || /quota/i.test(String(error.message)))) showStorageFull();
      else throw error;
    });
  }

  // --- Saving a form: online first, the outbox when that fails (kept apart: see docs/sync-protocol.md) ---
  // How long a save waits for the server before it is kept on the phone instead. If the server did get it,
  // the queued copy (same record id, same revision) comes back "duplicate" or as the same text.
  var SAVE_TIMEOUT_MS = 10000;

  // The URL a form posts to. Never `form.action`: a control named "action" (the report form's submit
  // buttons) hides that property, and the post went to "/reports/daily/[object RadioNodeList]".
  function formTarget(form) {
    return new URL(form.getAttribute("action") || location.href, location.href).href;
  }

  // "Saved on this phone, will sync": on the page a queued save lands on (`?queued=1`), or at once on the
  // form itself when the sign-in expired (then the sign-in banner shows too).
  function showQueuedNote(signin) {
    var note = document.getElementById("queued-note");
    if (!note) return;
    if (signin && note.dataset.signinText) note.textContent = note.dataset.signinText;
    note.hidden = false;
    if (signin) {
      state.signin = true;
      var banner = document.getElementById("signin-banner");
      if (banner) banner.hidden = false;
      document.querySelectorAll("button[aria-busy=true]").forEach(function (b) {
        b.disabled = false; b.removeAttribute("aria-busy");
        if (b.dataset.label) b.textContent = b.dataset.label;
      });
    }
    note.scrollIntoView({ block: "nearest" });
  }

  function postForm(form, submitter) {
    var body = new URLSearchParams(new FormData(form));
    if (submitter && submitter.name) body.set(submitter.name, submitter.value);
    var controller = global.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, SAVE_TIMEOUT_MS) : null;
    return fetch(formTarget(form), {
      method: "POST", body: body, credentials: "same-origin", signal: controller ? controller.signal : undefined,
      headers: { "HX-Request": "true", "X-CSRFToken": cookie("fieldpace_csrf") },
    }).then(function (response) {
      if (timer) clearTimeout(timer);
      return response;
    }, function (error) {
      if (timer) clearTimeout(timer);
      throw error;
    });
  }

  // After a save the next page must come from the server (its flash message, the new state): the service
  // worker, which otherwise shows a cached copy when the network is slow, is told first. It notes form posts
  // itself, but not those of a page it did not control yet (the first page after signing in).
  function afterWrite(go) {
    var done = false;
    var once = function () { if (!done) { done = true; go(); } };
    if (!global.navigator || !navigator.serviceWorker || !global.MessageChannel) return once();
    setTimeout(once, 300);
    navigator.serviceWorker.ready.then(function (reg) {
      if (!reg.active) return once();
      var channel = new MessageChannel();
      channel.port1.onmessage = once;
      reg.active.postMessage({ type: "WROTE" }, [channel.port2]);
    }).catch(once);
  }

  function onSubmit(event) {
    var form = event.target;
    var kind = form && form.dataset && form.dataset.offlineKind;
    if (!kind || form.dataset.nativeSubmit === "1" || !global.indexedDB) return;
    event.preventDefault();
    var submitter = event.submitter;
    var data = payloadOf(form);
    if (submitter && submitter.name) data[submitter.name] = submitter.value;
    var fixing = new URLSearchParams(location.search).get("fix");
    var queued = function (stay) {
      return queueForm(form, kind, data, submitter, stay).then(function () { if (fixing) discard(fixing); });
    };
    if (!navigator.onLine) { queued(false); return; }
    postForm(form, submitter).then(function (response) {
      var target = response.headers.get("HX-Redirect");
      // 401: the session ended; 403: its CSRF token with it (the token is bound to the session).
      if (response.status === 401 || response.status === 403) return queued(true);
      if (response.status >= 500) return queued(false);
      if (fixing && response.ok) discard(fixing);
      if (response.ok && target) { afterWrite(function () { location.assign(target); }); return; }
      // Anything else (a form with errors, a conflict): let the browser post it and show the answer.
      form.dataset.nativeSubmit = "1";
      if (submitter && submitter.name) {
        var hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = submitter.name; hidden.value = submitter.value;
        form.appendChild(hidden);
      }
      form.submit();
    }, function () {
      return queued(false);
    });
  }

  // Offline search over the customers kept on the phone (pulled ones and ones waiting to sync).
  function localCustomers(query) {
    return currentUser().then(function (user) {
      return Promise.all([localRecords(user, "customer"), itemsFor(user)]).then(function (got) {
        var list = got[0].slice();
        got[1].forEach(function (r) {
          if (r.kind === "customer.create") list.push({ id: r.record_id, name: r.payload.name || "", contact_name: r.payload.contact_name || "", phone: r.payload.phone || "", pending: true });
        });
        var q = (query || "").trim().toLowerCase();
        return list.filter(function (c) {
          return !q || [c.name, c.contact_name, c.phone].some(function (v) { return (v || "").toLowerCase().indexOf(q) >= 0; });
        }).sort(function (a, b) { return a.name.localeCompare(b.name); }).slice(0, 50);
      });
    });
  }

  function renderPick(container, customers, selected) {
    container.textContent = "";
    var group = document.createElement("div");
    group.className = "pick-list";
    customers.forEach(function (c) {
      var row = document.createElement("div"); row.className = "pick";
      var input = document.createElement("input");
      input.type = "radio"; input.name = "customer"; input.value = c.id; input.id = "c-" + c.id;
      if (selected && selected === c.id) input.checked = true;
      var label = document.createElement("label"); label.htmlFor = input.id; label.textContent = c.name;
      row.appendChild(input); row.appendChild(label); group.appendChild(row);
    });
    container.appendChild(group);
  }

  function renderCustomerList(container, customers) {
    var list = document.createElement("ul"); list.className = "list";
    customers.forEach(function (c) {
      var li = document.createElement("li"); var a = document.createElement("a");
      a.href = c.pending ? "/sync" : "/customers/" + c.id;
      var strong = document.createElement("strong"); strong.textContent = c.name; a.appendChild(strong);
      var muted = document.createElement("span"); muted.className = "muted";
      muted.textContent = [c.contact_name, c.phone].filter(Boolean).join(" · "); a.appendChild(muted);
      if (c.pending) {
        // Not on the server yet: marked like the waiting items in the server-rendered lists.
        li.className = "pending-item";
        var pill = document.createElement("span"); pill.className = "pill pill-warn";
        pill.textContent = (document.body && document.body.dataset.waitingLabel) || labels().statePending || "";
        a.appendChild(document.createTextNode(" ")); a.appendChild(pill);
      }
      li.appendChild(a); list.appendChild(li);
    });
    container.textContent = ""; container.appendChild(list);
  }

  function initOfflineSearch() {
    // The visit form's customer picker.
    var search = document.getElementById("f-customer-search");
    var pick = document.getElementById("customer-pick");
    if (search && pick) {
      var wanted = new URLSearchParams(location.search).get("customer");
      if (wanted && !pick.querySelector("input[name=customer]")) {
        localCustomers("").then(function (all) {
          var found = all.filter(function (c) { return c.id === wanted; });
          if (found.length) renderPick(pick, found, wanted);
        });
      }
      search.addEventListener("input", function () {
        if (navigator.onLine) return;  // htmx asks the server
        localCustomers(search.value).then(function (found) { renderPick(pick, found, ""); });
      });
    }
    // The customer list.
    var q = document.getElementById("f-q");
    var results = document.getElementById("customer-results");
    if (q && results) {
      var run = function () { localCustomers(q.value).then(function (found) { renderCustomerList(results, found); }); };
      q.addEventListener("input", function () { if (!navigator.onLine) run(); });
      if (!navigator.onLine) run();
    }
  }

  // Forms served from the cache hold the id they were rendered with; every fresh form gets its own.
  function freshIds() {
    document.querySelectorAll("form[data-fresh-id]").forEach(function (form) {
      var input = form.querySelector("input[name=id]");
      var hasErrors = form.querySelector(".field-error") || document.querySelector(".alert-error");
      if (input && !hasErrors) input.value = uuid();
      if (!hasErrors && !navigator.onLine) moveCheckinToNow(form);
    });
  }

  // Offline, the visit form comes from the page cache with the check-in time of when it was stored:
  // move it forward by the time since (the form says when the server rendered it). Computed on the
  // wall-clock value itself, so the company time zone and the phone's need not agree.
  function moveCheckinToNow(form) {
    var rendered = Number(form.dataset.renderedAt || 0);
    var field = form.querySelector("input[name=checkin_at]");
    var m = field && /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(field.value);
    var elapsed = Date.now() - rendered;
    if (!rendered || !m || elapsed < 60000) return;
    var moved = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]) + elapsed);
    field.value = moved.toISOString().slice(0, 16);
  }

  // Pages a rep needs with no network are fetched into the service worker's page cache while online.
  // "/" too: the worker learns where it leads (the rep's home), so the installed app's start URL
  // (`/?source=pwa`) opens home offline. The weekly report is the one its links name (the week's Monday).
  function warmOfflinePages() {
    var body = document.body;
    if (!body || body.dataset.role !== "rep" || !navigator.onLine || !navigator.serviceWorker) return;
    var today = body.dataset.today;
    var urls = ["/", "/home", "/customers", "/visits/new", "/customers/new", "/reports", "/sync", "/visits"];
    urls.push("/customers/near");  // customers near me (field-customers)
    if (today) urls.push("/reports/daily/" + today, "/reports/weekly/" + weekStart(today));
    postToWorker({ type: "CACHE_PAGES", urls: urls });
  }

  function postToWorker(message) {
    if (!hasDOM || !global.navigator || !navigator.serviceWorker) return;
    navigator.serviceWorker.ready.then(function (reg) {
      if (reg.active) reg.active.postMessage(message);
    }).catch(function () {});
  }

  // Monday of the week holding an ISO day, as server/clock.py's week_start.
  function weekStart(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m) return iso;
    var day = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
    return day.toISOString().slice(0, 10);
  }

  // The pages a rep reads but does not write offline (settings, the sales pages, every customer's page),
  // fetched one at a time after a pull, at most every half hour: a visit to one of them refreshes it anyway.
  var READ_ONLY_PAGES = ["/settings", "/sales", "/orders", "/opportunities", "/collections"];
  var READ_ONLY_EVERY_MS = 30 * 60 * 1000;
  function warmReadOnlyPages(user) {
    var body = hasDOM && document.body;
    if (!body || body.dataset.role !== "rep" || body.dataset.user !== user || !navigator.onLine) return Promise.resolve();
    return getMeta("warmed:" + user).then(function (at) {
      if (at && Date.now() - at < READ_ONLY_EVERY_MS) return;
      return localRecords(user, "customer").then(function (customers) {
        var urls = READ_ONLY_PAGES.concat(customers.slice(0, 300).map(function (c) { return "/customers/" + c.id; }));
        postToWorker({ type: "CACHE_PAGES", urls: urls, oneAtATime: true });
        return setMeta("warmed:" + user, Date.now());
      });
    }).catch(function () {});
  }

  // A report form opened with no draft yet is prefilled by the server from the visits it knows. Visits
  // still waiting in the outbox, and ones pulled after the (cached) form was rendered, are added here,
  // as the same lines (server/visits/services.py summary_lines).
  function prefillOfflineVisits() {
    var form = document.querySelector("form[data-prefill-from]");
    var summary = form && form.querySelector("textarea[name=summary]");
    if (!summary) return;
    var draft = null;
    try { draft = localStorage.getItem(draftStorageKey(form.dataset.draftKey)); } catch (e) { draft = null; }
    if (draft) return;  // the rep's own text (app.js restores it) is never rewritten
    var from = form.dataset.prefillFrom, to = form.dataset.prefillTo || from;
    var purposes = {};
    try { purposes = JSON.parse(form.dataset.purposeLabels || "{}"); } catch (e) { purposes = {}; }
    var inPeriod = function (at) { var day = String(at || "").slice(0, 10); return day >= from && day <= to; };
    var line = function (customer, purpose, outcome) {
      var text = "- " + customer + " (" + (purposes[purpose] || purpose || "") + ")";
      return outcome ? text + ": " + outcome : text;
    };
    currentUser().then(function (user) {
      if (!user) return;
      return Promise.all([localRecords(user, "visit"), itemsFor(user)]).then(function (got) {
        var byTime = function (a, b) { return a.at < b.at ? -1 : a.at > b.at ? 1 : 0; };
        // Synced visits carry their company day (visit_date); queued ones their wall-clock check-in time.
        var synced = got[0].filter(function (v) { return inPeriod(v.visit_date); }).map(function (v) {
          return { at: String(v.checkin_at), text: line(v.customer_name || "", v.purpose, v.outcome) };
        }).sort(byTime);
        var waiting = [];
        got[1].forEach(function (r) {
          var p = r.payload || {};
          if (r.kind === "visit.create" && inPeriod(p.checkin_at || r.client_time)) {
            waiting.push({ at: String(p.checkin_at || r.client_time), text: line(r.title || "", p.purpose, p.outcome) });
          }
        });
        var missing = synced.concat(waiting.sort(byTime)).map(function (v) { return v.text; }).filter(function (text) {
          return summary.value.indexOf(text) < 0;
        });
        if (!missing.length) return;
        summary.value = summary.value ? summary.value.replace(/\s+$/, "") + "\n" + missing.join("\n") : missing.join("\n");
      });
    }).catch(function () {});
  }

  // The offline page (served by the worker for a page it does not hold) links to the pages it does hold
  // for the signed-in user: the app's own screens by name, the rest (customers, reports) by their titles.
  function listCachedPages() {
    var box = document.getElementById("offline-cached");
    if (!box || !global.caches) return Promise.resolve();
    return currentUser().then(function (user) {
      if (!user) return;
      return caches.open("fieldpace-pages-" + user).then(function (cache) { return cache.keys(); }).then(function (requests) {
        var known = {};
        box.querySelectorAll("[data-offline-link]").forEach(function (li) { known[li.dataset.offlineLink] = li; });
        var others = [];
        requests.forEach(function (r) {
          var url = new URL(r.url);
          if (known[url.pathname]) { known[url.pathname].hidden = false; box.hidden = false; }
          else if (!url.search && url.pathname !== "/offline") others.push(r);
        });
        return Promise.all(others.slice(0, 200).map(function (r) {
          return caches.match(r).then(function (response) { return response ? response.text() : ""; }).then(function (html) {
            var title = new DOMParser().parseFromString(html, "text/html").title.replace(/\s*·\s*Fieldpace\s*$/, "");
            return { href: new URL(r.url).pathname, title: title };
          });
        })).then(function (pages) {
          var list = document.getElementById("offline-more-list");
          pages.filter(function (p) { return p.title; }).sort(function (a, b) { return a.title.localeCompare(b.title); }).forEach(function (p) {
            var li = document.createElement("li"); var a = document.createElement("a");
            a.href = p.href; a.textContent = p.title; li.appendChild(a); list.appendChild(li);
            box.hidden = false; document.getElementById("offline-more-title").hidden = false;
          });
        });
      });
    }).catch(function () {});
  }

  function initPage() {
    var user = pageUser();
    if (user) {
      setMeta("lastUser", user).catch(function () {});
      var token = cookie("fieldpace_csrf");
      if (token) setMeta("csrf", token).catch(function () {});
    }
    freshIds();
    initOfflineSearch();
    prefillOfflineVisits();
    listCachedPages();
    if (new URLSearchParams(location.search).get("queued") === "1") showQueuedNote(false);
    document.addEventListener("submit", onSubmit);
    document.addEventListener("click", function (e) {
      var t = e.target;
      if (t && t.matches && t.matches("[data-sync-now]")) { resetBackoff(); syncNow(); }
      var chosen = t && t.closest && t.closest("[data-key]");
      if (t && t.matches && t.matches("[data-action=keep-mine]") && chosen) keepMine(chosen.dataset.key);
      if (t && t.matches && t.matches("[data-action=keep-theirs]") && chosen) discard(chosen.dataset.key);
      // "Keep theirs" on the report form: forget the rep's draft so the stored text shows.
      if (t && t.matches && t.matches("[data-keep-theirs]")) {
        try { localStorage.removeItem(draftStorageKey(t.dataset.keepTheirs)); } catch (x) { /* ignore */ }
      }
      if (t && t.matches && t.matches("[data-action=discard]")) {
        var item = t.closest("[data-key]");
        if (item && confirm(t.dataset.confirm)) discard(item.dataset.key);
      }
    });
    // An htmx swap (the customer search online) replaces a list: mark its waiting items again.
    document.addEventListener("htmx:afterSettle", refreshUI);
    window.addEventListener("online", function () { resetBackoff(); syncNow(); });
    window.addEventListener("offline", function () { state.offline = true; refreshUI(); });
    document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") syncNow(); });
    if (navigator.serviceWorker) {
      navigator.serviceWorker.addEventListener("message", function (e) {
        if (e.data && e.data.type === "OUTBOX_CHANGED") refreshUI();
      });
    }
    setInterval(function () {
      if (Date.now() < retryAt) return;  // backing off
      pendingCount().then(function (n) { if (n && navigator.onLine) syncNow(); });
    }, 30000);
    refreshUI();
    if (user) syncNow();
    // The warming of offline pages (the service worker's prefetches) waits until the page has loaded and
    // the main thread is idle: what the rep opened is drawn and answers taps first.
    whenIdle(warmOfflinePages);
  }

  function whenIdle(work) {
    var run = function () {
      if (global.requestIdleCallback) requestIdleCallback(function () { work(); }, { timeout: 2000 });
      else setTimeout(work, 200);
    };
    if (document.readyState === "complete") run();
    else window.addEventListener("load", run, { once: true });
  }

  global.fieldpaceOutbox = {
    enqueue: enqueue, pendingCount: pendingCount, syncNow: syncNow, localCustomers: localCustomers,
    items: function () { return currentUser().then(itemsFor); }, discard: discard,
    // The records pulled for the signed-in user, all of one type (nearby.js: customers near me).
    localRecords: function (type) { return currentUser().then(function (user) { return user ? localRecords(user, type) : []; }); },
  };
  if (hasDOM) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initPage);
    else initPage();
  }
})(typeof self !== "undefined" ? self : this);

// --- Signed-out clean-up (kept apart from the outbox above; used by web/sw.js) -------------------------
// When a navigation finds the session gone, the records pulled for offline use, the pull cursors and the
// remembered user and CSRF token are forgotten. The outbox items stay: each is keyed to its user, shown
// and pushed only when that user signs in again on this browser, so nothing typed in the field is lost
// (docs/architecture.md says why).
(function (global) {
  "use strict";

  function forgetSignedOutData() {
    return new Promise(function (resolve) {
      var req;
      try { req = indexedDB.open("fieldpace"); } catch (e) { resolve(false); return; }
      // No database yet: nothing to forget, and creating an empty one would get in the outbox's way.
      req.onupgradeneeded = function () { req.transaction.abort(); };
      req.onerror = function () { resolve(false); };
      req.onblocked = function () { resolve(false); };
      req.onsuccess = function () {
        var db = req.result;
        var names = Array.prototype.slice.call(db.objectStoreNames);
        var stores = ["records", "meta"].filter(function (n) { return names.indexOf(n) >= 0; });
        if (!stores.length) { db.close(); resolve(true); return; }
        var t = db.transaction(stores, "readwrite");
        if (names.indexOf("records") >= 0) t.objectStore("records").clear();
        if (names.indexOf("meta") >= 0) {
          t.objectStore("meta").openCursor().onsuccess = function (e) {
            var c = e.target.result;
            if (!c) return;
            var k = String(c.key);
            // "warmed:": the read-only pages went with the page caches, so the next sign-in fetches them again.
            if (k === "lastUser" || k === "csrf" || k.indexOf("cursor:") === 0 || k.indexOf("warmed:") === 0) c.delete();
            c.continue();
          };
        }
        t.oncomplete = function () { db.close(); resolve(true); };
        t.onerror = t.onabort = function () { db.close(); resolve(false); };
      };
    });
  }

  global.fieldpaceOutbox = global.fieldpaceOutbox || {};
  global.fieldpaceOutbox.forgetSignedOutData = forgetSignedOutData;
})(typeof self !== "undefined" ? self : this);

// --- Visit photos (kept apart from the outbox above; docs/sync-protocol.md, "Photos") ------------------
// A photo chosen on the visit form is shrunk here (canvas -> JPEG, longest side 1600 px, and a 320 px
// thumbnail), kept in its own IndexedDB database as a draft of the form, marked to send with the visit's
// id when the form is submitted (online or offline), and uploaded after the outbox's push, one request per
// photo, with a UUID made here: a retried upload is acknowledged by the server, never doubled. A photo the
// server refuses (not an image, too large, too many) is parked under "needs attention", never retried, so
// it cannot hold up the photos behind it. 401/403, 5xx and network errors keep it for later.
(function (global) {
  "use strict";

  var hasDOM = typeof document !== "undefined";
  var SIDE = 1600, QUALITY = 0.8, THUMB_SIDE = 320, THUMB_QUALITY = 0.7;
  var dbPromise = null;

  function openPhotos() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      var req = indexedDB.open("fieldpace-photos", 1);
      req.onupgradeneeded = function () {
        var db = req.result;
        // Small rows (rewritten when a photo's state changes) apart from the bytes (written once).
        db.createObjectStore("photos", { keyPath: "id" }).createIndex("user", "user");
        db.createObjectStore("blobs", { keyPath: "id" });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { dbPromise = null; reject(req.error); };
    });
    return dbPromise;
  }

  function ptx(stores, mode, work) {
    return openPhotos().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(stores, mode);
        var out = { value: undefined };
        t.oncomplete = function () { resolve(out.value); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error || new Error("aborted")); };
        work(t, out);
      });
    });
  }

  function photosOf(user) {
    return ptx(["photos"], "readonly", function (t, out) {
      t.objectStore("photos").index("user").getAll(user).onsuccess = function (e) {
        out.value = (e.target.result || []).sort(function (a, b) { return a.created < b.created ? -1 : 1; });
      };
    });
  }

  function blobsOf(id) {
    return ptx(["blobs"], "readonly", function (t, out) {
      t.objectStore("blobs").get(id).onsuccess = function (e) { out.value = e.target.result; };
    });
  }

  function removePhoto(id) {
    return ptx(["photos", "blobs"], "readwrite", function (t) {
      t.objectStore("photos").delete(id);
      t.objectStore("blobs").delete(id);
    });
  }

  function newId() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // The picture drawn again at most `side` px on its longest side, as a JPEG.
  function shrink(file, side, quality) {
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) bitmap.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) { if (blob) resolve(blob); else reject(new Error("encode")); }, "image/jpeg", quality);
      });
    });
  }

  function keepDraft(user, file) {
    return Promise.all([shrink(file, SIDE, QUALITY), shrink(file, THUMB_SIDE, THUMB_QUALITY)]).then(function (made) {
      var id = newId();
      return ptx(["photos", "blobs"], "readwrite", function (t) {
        t.objectStore("blobs").put({ id: id, photo: made[0], thumb: made[1] });
        t.objectStore("photos").put({ id: id, user: user, status: "draft", visit: "", errors: null,
                                      created: new Date().toISOString(), bytes: made[0].size });
      });
    });
  }

  // --- Upload --------------------------------------------------------------------------------------
  var running = null;

  function uploadPhotos(user, csrfToken, language) {
    if (running) return running;
    running = photosOf(user).then(function (rows) {
      var waiting = rows.filter(function (r) { return r.status === "pending"; });
      if (!waiting.length) return;
      return csrfToken().then(function (token) {
        var next = function (i) {
          if (i >= waiting.length) return;
          return uploadOne(waiting[i], token, language).then(function (goOn) { if (goOn) return next(i + 1); });
        };
        return next(0);
      });
    }).catch(function () { /* kept for the next sync */ }).then(function () {
      running = null;
      renderQueue();
    });
    return running;
  }

  // true: go on with the next photo; false: stop for now (no network, signed out, server trouble).
  function uploadOne(row, token, language) {
    return blobsOf(row.id).then(function (b) {
      if (!b) return removePhoto(row.id).then(function () { return true; });
      var body = new FormData();
      body.append("id", row.id);
      body.append("photo", b.photo, row.id + ".jpg");
      if (b.thumb) body.append("thumb", b.thumb, row.id + ".thumb.jpg");
      return fetch("/api/v1/visits/" + encodeURIComponent(row.visit) + "/photos", {
        method: "POST", credentials: "same-origin", body: body,
        headers: { "X-CSRFToken": token, "Accept-Language": language || "en" },
      }).then(function (response) {
        if (response.ok) return removePhoto(row.id).then(function () { return true; });
        if (response.status === 401 || response.status === 403 || response.status === 429 || response.status >= 500) return false;
        // Refused for good (400, 404, 409, 413, 415, 422): parked with the server's reason, the rest go on.
        return response.json().catch(function () { return {}; }).then(function (problem) {
          var errors = problem.errors || { "": problem.title || String(response.status) };
          return ptx(["photos"], "readwrite", function (t) {
            row.status = "rejected"; row.errors = errors; t.objectStore("photos").put(row);
          }).then(function () { return true; });
        });
      }, function () { return false; });
    });
  }

  // --- Page behaviour ---------------------------------------------------------------------------------
  function pageUser() { return hasDOM && document.body ? document.body.dataset.user || "" : ""; }

  function thumbnail(blob, alt) {
    var img = document.createElement("img");
    img.alt = alt; img.width = 64; img.height = 64;
    // A data: URL, not a blob: one, so the page's Content-Security-Policy (img-src 'self' data:) allows it.
    var reader = new FileReader();
    reader.onload = function () { img.src = reader.result; };
    reader.readAsDataURL(blob);
    return img;
  }

  function renderDrafts(field) {
    var list = field.querySelector("[data-photo-preview]");
    if (!list) return Promise.resolve();
    return photosOf(pageUser()).then(function (rows) {
      var drafts = rows.filter(function (r) { return r.status === "draft"; });
      return Promise.all(drafts.map(function (r) { return blobsOf(r.id); })).then(function (blobs) {
        list.textContent = "";
        drafts.forEach(function (r, i) {
          if (!blobs[i]) return;
          var li = document.createElement("li");
          li.dataset.photoId = r.id;
          li.appendChild(thumbnail(blobs[i].thumb || blobs[i].photo, field.dataset.photoAlt || ""));
          var remove = document.createElement("button");
          remove.type = "button"; remove.className = "button small secondary"; remove.dataset.photoRemove = r.id;
          remove.textContent = field.dataset.photoRemove || "×";
          li.appendChild(remove);
          list.appendChild(li);
        });
        field.dataset.photoCount = String(drafts.length);
      });
    });
  }

  function initPhotoField(field) {
    var input = field.querySelector("[data-photo-input]");
    var status = field.querySelector("[data-photo-status]");
    var user = pageUser();
    if (!input || !user || !global.indexedDB) return;
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files || []);
      if (status) status.textContent = "";
      var done = files.reduce(function (p, file) {
        return p.then(function () {
          return keepDraft(user, file).catch(function () {
            if (status) status.textContent = field.dataset.photoNotImage || "";
          });
        });
      }, Promise.resolve());
      done.then(function () { input.value = ""; return renderDrafts(field); }).then(function () { field.dataset.photoReady = "1"; });
    });
    field.addEventListener("click", function (e) {
      var id = e.target && e.target.dataset && e.target.dataset.photoRemove;
      if (id) removePhoto(id).then(function () { renderDrafts(field); });
    });
    // Submitted (online or offline): the drafts become the visit's, with the id the form sends.
    var form = field.closest("form");
    if (form) {
      form.addEventListener("submit", function () {
        var visit = form.querySelector("input[name=id]");
        if (!visit || !visit.value) return;
        ptx(["photos"], "readwrite", function (t) {
          var store = t.objectStore("photos");
          store.index("user").openCursor(user).onsuccess = function (e) {
            var c = e.target.result;
            if (!c) return;
            if (c.value.status === "draft") { c.value.status = "pending"; c.value.visit = visit.value; c.update(c.value); }
            c.continue();
          };
        }).catch(function () {});
      }, true);
    }
    renderDrafts(field).then(function () { field.dataset.photoReady = "1"; });
  }

  // The /sync page: photos waiting to upload and the ones the server refused (with a way to discard them).
  function renderQueue() {
    var list = hasDOM && document.getElementById("photo-queue");
    if (!list) return;
    photosOf(pageUser()).then(function (rows) {
      list.textContent = "";
      rows.filter(function (r) { return r.status !== "draft"; }).forEach(function (r) {
        var li = document.createElement("li");
        li.className = "outbox-item"; li.dataset.photoId = r.id; li.dataset.photoStatus = r.status;
        var head = document.createElement("strong");
        head.textContent = r.status === "pending" ? list.dataset.pending : list.dataset.rejected;
        li.appendChild(head);
        if (r.errors) {
          var why = document.createElement("div"); why.className = "field-error";
          why.textContent = Object.keys(r.errors).map(function (k) { return r.errors[k]; }).join(" ");
          li.appendChild(why);
          var discard = document.createElement("button");
          discard.type = "button"; discard.className = "button small danger"; discard.dataset.photoDiscard = r.id;
          discard.textContent = list.dataset.discard;
          li.appendChild(discard);
        }
        list.appendChild(li);
      });
      if (!list.children.length) {
        var empty = document.createElement("li"); empty.className = "empty"; empty.textContent = list.dataset.empty;
        list.appendChild(empty);
      }
    }).catch(function () {});
  }

  function initPhotos() {
    document.querySelectorAll("[data-photo-field]").forEach(initPhotoField);
    var queue = document.getElementById("photo-queue");
    if (queue) {
      queue.addEventListener("click", function (e) {
        var id = e.target && e.target.dataset && e.target.dataset.photoDiscard;
        if (id) removePhoto(id).then(renderQueue);
      });
      renderQueue();
    }
    // Photos still waiting are sent with the next sync; nudge one now and then while online.
    setInterval(function () {
      if (!navigator.onLine || !pageUser()) return;
      photosOf(pageUser()).then(function (rows) {
        if (rows.some(function (r) { return r.status === "pending"; }) && global.fieldpaceOutbox.syncNow) global.fieldpaceOutbox.syncNow();
      }).catch(function () {});
    }, 30000);
  }

  global.fieldpaceOutbox = global.fieldpaceOutbox || {};
  global.fieldpaceOutbox.uploadPhotos = uploadPhotos;
  global.fieldpaceOutbox.photos = function () { return photosOf(pageUser()); };
  if (hasDOM && global.indexedDB) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initPhotos);
    else initPhotos();
  }
})(typeof self !== "undefined" ? self : this);
