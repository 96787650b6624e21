/*
 * Fieldpace PWA glue, loaded with `defer` on every page.
 *
 * Constraints this file keeps:
 * - CSP `script-src 'self'`: no inline scripts, eval, new Function or
 *   inline handlers; everything is wired with addEventListener here.
 * - All visible text is server-rendered (and translated) HTML; this file only
 *   toggles `hidden` and classes.
 * - Any element may be missing on a given page, and htmx may swap elements
 *   out, so elements are looked up at the moment of use and the current state
 *   is re-applied after every htmx swap.
 */
(function () {
  "use strict";

  var IOS_HINT_KEY = "fieldpace.iosHintDismissed";
  var INSTALL_KEY = "fieldpace.installDismissed";

  var state = {
    registration: null,
    waitingWorker: null,
    // True once a new worker took control of this page without this page
    // asking (another tab accepted the update): a reload is then needed.
    staleController: false,
    updateBlocked: false,
    installEvent: null,
    iosHint: false,
  };

  var hadController = !!(navigator.serviceWorker && navigator.serviceWorker.controller);
  var updateRequested = false;
  var reloading = false;

  function el(id) {
    return document.getElementById(id);
  }

  function setHidden(id, hidden) {
    var node = el(id);
    if (node) node.hidden = hidden;
  }

  function render() {
    setHidden("update-banner", !(state.waitingWorker || state.staleController));
    var banner = el("update-banner");
    if (banner) banner.classList.toggle("is-blocked", state.updateBlocked);
    setHidden("install-banner", !state.installEvent || remembered(INSTALL_KEY));
    setHidden("ios-install-hint", !state.iosHint);
    setHidden("offline-indicator", navigator.onLine !== false);
    dock();
  }

  // The install offers sit in a dock above the tab bar, not in the page's flow: appearing after the page
  // has drawn, they would push it down (a layout shift). The page's bottom padding grows by the dock's
  // height, so nothing the rep can scroll to ends under it.
  function dock() {
    var body = document.body;
    if (!body) return;
    var shown = ["install-banner", "ios-install-hint"].map(el).filter(function (node) { return node && !node.hidden; });
    body.classList.toggle("has-dock", shown.length > 0);
    if (!shown.length) return;  // nothing to measure: no forced layout while the page loads
    var bar = document.querySelector("nav.tabbar");
    body.style.setProperty("--tabbar-h", (bar ? bar.offsetHeight : 0) + "px");
    body.style.setProperty("--dock-h", shown.reduce(function (h, node) { return h + node.offsetHeight; }, 0) + "px");
  }
  window.addEventListener("resize", dock);

  function reloadOnce() {
    if (reloading) return;
    reloading = true;
    window.location.reload();
  }

  /* ---------- service worker registration and update handshake ---------- */

  function offerUpdate(worker) {
    state.waitingWorker = worker;
    render();
  }

  function watchRegistration(registration) {
    state.registration = registration;
    // A worker may already be waiting from an earlier visit.
    if (registration.waiting && navigator.serviceWorker.controller) {
      offerUpdate(registration.waiting);
    }
    registration.addEventListener("updatefound", function () {
      var worker = registration.installing;
      if (!worker) return;
      worker.addEventListener("statechange", function () {
        // With no controller this is the first install, not an update.
        if (worker.state === "installed" && navigator.serviceWorker.controller) {
          offerUpdate(worker);
        }
      });
    });
  }

  async function outboxIsEmpty() {
    var outbox = window.fieldpaceOutbox;
    if (!outbox || typeof outbox.pendingCount !== "function") return true;
    try {
      return (await outbox.pendingCount()) === 0;
    } catch (error) {
      // Unknown means not safe to switch versions.
      return false;
    }
  }

  async function applyUpdate() {
    if (state.staleController && !state.waitingWorker) {
      // Already running the new worker; the page just needs fresh assets.
      reloadOnce();
      return;
    }
    var worker = (state.registration && state.registration.waiting) || state.waitingWorker;
    if (!worker) return;
    // Queued offline work must be synced by the version that queued it.
    if (!(await outboxIsEmpty())) {
      state.updateBlocked = true;
      render();
      return;
    }
    state.updateBlocked = false;
    render();
    updateRequested = true;
    worker.postMessage({ type: "SKIP_WAITING" });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      // First install (clients.claim) also fires this: nothing to reload.
      if (!hadController && !updateRequested) {
        hadController = true;
        return;
      }
      if (updateRequested) {
        reloadOnce();
        return;
      }
      // Another tab accepted the update. Reloading here could lose an
      // unsaved form, so the rep decides via the banner.
      state.waitingWorker = null;
      state.staleController = true;
      render();
    });

    var register = function () {
      navigator.serviceWorker
        .register("/sw.js", { scope: "/" })
        .then(watchRegistration)
        .then(function () { return navigator.serviceWorker.ready; })
        .then(function (registration) {
          // Loaded while the first worker was activating, this page can miss its
          // clients.claim(): ask again, or it stays uncontrolled until a reload.
          if (!navigator.serviceWorker.controller && registration.active) {
            registration.active.postMessage({ type: "CLAIM" });
          }
        })
        .catch(function () {
          // The app works without a worker; offline support is just absent.
        });
    };
    // Registering after load keeps the precache from competing with the page.
    if (document.readyState === "complete") register();
    else window.addEventListener("load", register, { once: true });
  }

  /* ---------- a page shown from the cache on a slow link, then updated (web/sw.js) ---------- */

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", function (event) {
      var data = event.data || {};
      if (data.type !== "PAGE_UPDATED") return;
      try {
        if (new URL(data.url).pathname !== window.location.pathname) return;
      } catch (error) {
        return;
      }
      // The newer copy is in the cache now: the button reloads into it.
      setHidden("page-updated", false);
    });
  }

  /* ---------- install prompt (Chromium) ---------- */

  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    state.installEvent = event;
    render();
  });

  window.addEventListener("appinstalled", function () {
    state.installEvent = null;
    render();
  });

  async function promptInstall() {
    var event = state.installEvent;
    if (!event) return;
    // A prompt event can be used once only.
    state.installEvent = null;
    try {
      await event.prompt();
      if (event.userChoice) await event.userChoice;
    } catch (error) {
      // The browser refused; nothing to offer any more.
    }
    render();
  }

  /* ---------- iOS add-to-home-screen hint ---------- */

  function isIOS() {
    var ua = navigator.userAgent || "";
    if (/iPhone|iPad|iPod/.test(ua)) return true;
    // iPadOS presents itself as a Mac; touch points tell them apart.
    return /Macintosh/.test(ua) && (navigator.maxTouchPoints || 0) > 1;
  }

  function isStandalone() {
    if (navigator.standalone === true) return true;
    return !!(window.matchMedia && window.matchMedia("(display-mode: standalone)").matches);
  }

  function remembered(key) {
    try {
      return !!window.localStorage.getItem(key);
    } catch (error) {
      return false;
    }
  }

  function dismissInstall() {
    try {
      window.localStorage.setItem(INSTALL_KEY, "1");
    } catch (error) {
      // Storage blocked: hidden for this page at least.
    }
    state.installEvent = null;
    render();
  }

  function iosHintDismissed() {
    try {
      return !!window.localStorage.getItem(IOS_HINT_KEY);
    } catch (error) {
      // Storage blocked: do not nag on every page.
      return true;
    }
  }

  function dismissIosHint() {
    state.iosHint = false;
    try {
      window.localStorage.setItem(IOS_HINT_KEY, "1");
    } catch (error) {
      // Hidden for this page at least.
    }
    render();
  }

  state.iosHint = isIOS() && !isStandalone() && !iosHintDismissed();

  /* ---------- online / offline ---------- */

  window.addEventListener("online", render);
  window.addEventListener("offline", render);

  /* ---------- delegated clicks (survive htmx swaps) ---------- */

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    if (target.closest("#update-reload")) {
      event.preventDefault();
      applyUpdate();
    } else if (target.closest("#install-button")) {
      event.preventDefault();
      promptInstall();
    } else if (target.closest("#page-updated-show")) {
      event.preventDefault();
      reloadOnce();
    } else if (target.closest("#install-dismiss")) {
      event.preventDefault();
      dismissInstall();
    } else if (target.closest("#ios-install-hint-dismiss")) {
      event.preventDefault();
      dismissIosHint();
    }
  });

  /* ---------- sign-out: asked first offline, the offline copy kept unless it reached the server ---------- */

  function unsyncedText(form, count) {
    if (count === 1) return form.dataset.unsyncedOne || "";
    return (form.dataset.unsyncedMany || "").replace("{n}", String(count));
  }

  // Offline, or with changes not synced yet, the rep is asked first and told how many wait. The sign-out
  // is posted with fetch: only once the server has answered are the cached pages and pulled records
  // cleared (the outbox itself always stays, under its user). Unreached, nothing is deleted and the
  // page says so.
  async function signOut(form) {
    var count = 0;
    try {
      count = window.fieldpaceOutbox && window.fieldpaceOutbox.pendingCount ? await window.fieldpaceOutbox.pendingCount() : 0;
    } catch (error) {
      count = 0;
    }
    var offline = navigator.onLine === false;
    if (offline || count > 0) {
      var question = (count > 0 ? unsyncedText(form, count) + " " : "") +
        (offline ? form.dataset.confirmOffline : form.dataset.confirmPending);
      if (!window.confirm(question)) return;
    }
    var response;
    try {
      response = await fetch(form.getAttribute("action") || "/logout", {
        method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin",
      });
    } catch (error) {
      response = null;
    }
    if (!response || !response.ok) {
      setHidden("signout-failed", false);
      return;
    }
    var worker = navigator.serviceWorker && (navigator.serviceWorker.controller || (state.registration && state.registration.active));
    if (worker) worker.postMessage({ type: "CLEAR_PAGES" });
    window.location.assign("/login");
  }

  // Capture phase, so it runs before anything else that listens for submits.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-signout")) return;
      event.preventDefault();
      event.stopPropagation();
      signOut(form);
    },
    true,
  );

  document.addEventListener("htmx:afterSettle", render);
  render();
})();
