const VERSION = "__FIELDPACE_VERSION__";

// The outbox code runs here too, for Background Sync where the browser has it (never relied on).
importScripts("/static/outbox.js");

/*
 * Fieldpace service worker. Served at /sw.js with root scope.
 *
 * The server replaces VERSION with a hash of the static files, so any asset
 * change produces a byte-different worker, which the browser installs as a
 * new version. Plain JS, no build step: this file is shipped as written.
 */

const SHELL_PREFIX = "fieldpace-shell-";
const SHELL_CACHE = `${SHELL_PREFIX}${VERSION}`;
// Not versioned: visited pages stay readable offline across app updates.
// It holds user data, so the page asks us to drop it at sign-out.
const PAGES_CACHE = "fieldpace-pages";
const OFFLINE_URL = "/offline";
const ICON_URL = "/icons/icon-192.png";

// The app shell: everything needed to render the offline page and to run
// the client scripts without a network. Install fails if any entry fails,
// so a worker with an incomplete shell never becomes active.
const SHELL_URLS = [
  "/static/app.css",
  "/static/app.js",
  "/static/pwa.js",
  "/static/outbox.js",
  "/static/nearby.js", // customers near me (field-customers)
  "/static/vendor/htmx.min.js",
  OFFLINE_URL,
  ICON_URL,
  "/manifest.webmanifest",
];

// Never cached as pages: the auth screens carry per-session state (CSRF
// tokens, flash messages) and must never be replayed from cache.
const UNCACHEABLE_PAGES = new Set(["/login", "/logout"]);

self.addEventListener("install", (event) => {
  // cache: "reload" bypasses the HTTP cache, so the shell stored for this
  // VERSION is what the server serves now, not an older HTTP-cached copy.
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) =>
        cache.addAll(SHELL_URLS.map((url) => new Request(url, { cache: "reload" }))),
      ),
  );
  // No skipWaiting() here: open pages keep the worker they loaded with until
  // the user accepts the update (see the SKIP_WAITING message), so a page is
  // never switched to assets from another version under unsynced work.
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names
          .filter((name) => name.startsWith(SHELL_PREFIX) && name !== SHELL_CACHE)
          .map((name) => caches.delete(name)),
      );
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "SKIP_WAITING") {
    // The only path to activating a waiting worker: the page has already
    // checked that nothing is pending before asking.
    self.skipWaiting();
  } else if (data.type === "CLEAR_PAGES") {
    // Sign-out: the next person on this device must not read cached pages.
    event.waitUntil(caches.delete(PAGES_CACHE));
  } else if (data.type === "CACHE_PAGES" && Array.isArray(data.urls)) {
    // The pages a rep needs with no network, fetched while online (see outbox.js).
    event.waitUntil(cachePages(data.urls));
  }
});

async function cachePages(urls) {
  const cache = await caches.open(PAGES_CACHE);
  await Promise.all(
    urls.map(async (path) => {
      const url = new URL(path, self.location.origin);
      if (url.origin !== self.location.origin || UNCACHEABLE_PAGES.has(url.pathname)) return;
      try {
        const response = await fetch(url.href, { credentials: "same-origin", cache: "no-store" });
        // A redirect (to the sign-in page) or an error is not the page: keep what we had.
        if (response.status === 200 && !response.redirected && response.headers.get("X-Fieldpace-Cache") !== "no-store") {
          await cache.put(pageKey(url), response);
        }
      } catch (error) {
        // offline meanwhile: try again on the next page load
      }
    }),
  );
}

self.addEventListener("sync", (event) => {
  if (event.tag !== "fieldpace-outbox" || !self.fieldpaceOutbox) return;
  event.waitUntil(
    Promise.resolve(self.fieldpaceOutbox.syncNow()).then(async () => {
      const windows = await self.clients.matchAll({ type: "window" });
      windows.forEach((client) => client.postMessage({ type: "OUTBOX_CHANGED" }));
    }),
  );
});

function isStaticAsset(path) {
  return (
    path.startsWith("/static/") ||
    path.startsWith("/icons/") ||
    path === "/manifest.webmanifest"
  );
}

function isBypassed(path) {
  // The API (and the htmx/JSON traffic it carries) must always see the real
  // network, the worker script must never be served from its own cache, and
  // the health check must reflect the server, not us.
  return path.startsWith("/api/") || path === "/sw.js" || path === "/healthz";
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  // Writes are never intercepted: a failed POST must fail visibly in the page.
  if (request.method !== "GET") return;

  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (isBypassed(url.pathname)) return;

  if (isStaticAsset(url.pathname)) {
    event.respondWith(cacheFirst(request));
    return;
  }

  // Only top-level navigations get page caching. htmx partial requests are
  // not navigations, so fragments can never be stored or served as pages.
  if (request.mode === "navigate") {
    event.respondWith(networkFirstPage(event, url));
  }
});

async function cacheFirst(request) {
  const cached = await caches.match(request, { cacheName: SHELL_CACHE });
  return cached || fetch(request);
}

function pageKey(url) {
  const key = new URL(url.href);
  key.hash = "";
  return key.href;
}

async function networkFirstPage(event, url) {
  const request = event.request;
  try {
    const response = await fetch(request);
    if (
      response.status === 200 &&
      response.headers.get("X-Fieldpace-Cache") !== "no-store" &&
      !UNCACHEABLE_PAGES.has(url.pathname)
    ) {
      const copy = response.clone();
      event.waitUntil(
        caches
          .open(PAGES_CACHE)
          .then((cache) => cache.put(pageKey(url), copy))
          .catch(() => undefined), // e.g. quota: serving the page matters more
      );
    }
    return response;
  } catch (error) {
    return offlinePage(url);
  }
}

async function offlinePage(url) {
  const key = pageKey(url);
  const pages = await caches.open(PAGES_CACHE);
  const page =
    (await pages.match(key)) || (await pages.match(key, { ignoreSearch: true }));
  if (page) return page;

  const offline = await caches.match(OFFLINE_URL, { cacheName: SHELL_CACHE });
  if (offline) return unredirected(offline);

  return new Response("Offline", {
    status: 503,
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });
}

// A response that was redirected may not answer a navigation (browsers reject
// it), so the precached offline page is re-wrapped if the server redirected it.
function unredirected(response) {
  if (!response.redirected) return response;
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

self.addEventListener("push", (event) => {
  let payload = {};
  if (event.data) {
    try {
      payload = event.data.json() || {};
    } catch (error) {
      payload = { body: event.data.text() };
    }
  }
  const title = typeof payload.title === "string" && payload.title ? payload.title : "Fieldpace";
  const options = {
    body: typeof payload.body === "string" ? payload.body : "",
    icon: ICON_URL,
    badge: ICON_URL,
    data: { url: typeof payload.url === "string" && payload.url ? payload.url : "/" },
    silent: false,
  };
  if (typeof payload.tag === "string" && payload.tag) {
    options.tag = payload.tag;
    // A replacement under the same tag must still alert the rep.
    options.renotify = true;
  }
  // Every push shows a notification: browsers require it of userVisibleOnly
  // subscriptions and may revoke the subscription otherwise.
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  // Only our own origin may be opened from a notification payload.
  let target = new URL("/", self.location.origin);
  try {
    const candidate = new URL((event.notification.data || {}).url || "/", self.location.origin);
    if (candidate.origin === self.location.origin) target = candidate;
  } catch (error) {
    // keep the default
  }

  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      // An existing window is focused, never navigated: it may hold an
      // unsaved visit or report form.
      const same = windows.find((client) => pageKey(new URL(client.url)) === pageKey(target));
      if (same) return same.focus();
      const opened = await self.clients.openWindow(target.href);
      if (opened) return opened;
      if (windows.length > 0) return windows[0].focus();
      return undefined;
    })(),
  );
});
