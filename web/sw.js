const VERSION = "__FIELDPACE_VERSION__";
// Every static file's content-hashed URL by its plain name, written in by the server (server/assets.py).
const STATIC_URLS = __FIELDPACE_STATIC_URLS__;

// The outbox code runs here too, for Background Sync where the browser has it (never relied on).
importScripts(STATIC_URLS["outbox.js"]);

/*
 * Fieldpace service worker. Served at /sw.js with root scope.
 *
 * The server replaces VERSION with a hash of the static files, so any asset
 * change produces a byte-different worker, which the browser installs as a
 * new version. Plain JS, no build step: this file is shipped as written.
 */

const SHELL_PREFIX = "fieldpace-shell-";
const SHELL_CACHE = `${SHELL_PREFIX}${VERSION}`;
// Visited pages, one cache per user ("fieldpace-pages-<user id>"), not
// versioned: they stay readable offline across app updates. Every private
// page names its user in the X-Fieldpace-User header; only the user the
// browser was last signed in as is ever served from cache.
const PAGES_PREFIX = "fieldpace-pages-";
const LEGACY_PAGES_CACHE = "fieldpace-pages";
// Which user's pages may be served offline: one entry in a cache of its own,
// so it survives the worker being stopped and restarted.
const STATE_CACHE = "fieldpace-state";
const USER_KEY_URL = "/__fieldpace/signed-in-user";
const OFFLINE_URL = "/offline";
const ICON_URL = "/icons/icon-192.png";

// The app shell: everything needed to render the offline page and to run
// the client scripts without a network. Install fails if any entry fails,
// so a worker with an incomplete shell never becomes active.
const SHELL_URLS = [
  STATIC_URLS["app.css"],
  STATIC_URLS["app.js"],
  STATIC_URLS["pwa.js"],
  STATIC_URLS["outbox.js"],
  STATIC_URLS["nearby.js"], // customers near me (field-customers)
  STATIC_URLS["vendor/htmx.min.js"],
  OFFLINE_URL,
  ICON_URL,
  "/manifest.webmanifest",
];

// Never cached as pages: the auth screens carry per-session state (CSRF
// tokens, flash messages) and must never be replayed from cache.
const UNCACHEABLE_PAGES = new Set(["/login", "/logout"]);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL_URLS.map(shellRequest))),
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
          .filter(
            (name) =>
              (name.startsWith(SHELL_PREFIX) && name !== SHELL_CACHE) ||
              name === LEGACY_PAGES_CACHE, // one cache for everyone: gone
          )
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
  } else if (data.type === "CLAIM") {
    // A page that loaded while this worker was activating missed its claim():
    // it asks, so that it is controlled (and cached) without a reload.
    event.waitUntil(self.clients.claim());
  } else if (data.type === "WROTE") {
    // A page saved a form (outbox.js afterWrite): the next navigation waits for the server.
    lastWriteAt = Date.now();
    if (event.ports && event.ports[0]) event.ports[0].postMessage("ok");
  } else if (data.type === "CLEAR_PAGES") {
    // Sign-out: the next person on this device must not read cached pages.
    event.waitUntil(forgetSignedOut());
  } else if (data.type === "CACHE_PAGES" && Array.isArray(data.urls)) {
    // The pages a rep needs with no network, fetched while online (see outbox.js); the read-only ones
    // (every customer's page) one at a time, so they never crowd out what the rep is opening.
    event.waitUntil(data.oneAtATime ? cachePagesInTurn(data.urls) : cachePages(data.urls));
  }
});

async function cachePages(urls) {
  await Promise.all(urls.map(cachePage));
}

async function cachePagesInTurn(urls) {
  for (const path of urls) {
    // A session that ended on the way stops the rest (the pages are gone already).
    if ((await cachePage(path)) === "gone") return;
  }
}

async function cachePage(path) {
  const url = new URL(path, self.location.origin);
  if (url.origin !== self.location.origin || UNCACHEABLE_PAGES.has(url.pathname)) return "";
  try {
    // Marked as a prefetch: its answer keeps the flash messages and sets no cookie (server/middleware.py).
    const response = await fetch(url.href, {
      credentials: "same-origin", cache: "no-store", headers: { "X-Fieldpace-Prefetch": "1" },
    });
    if (sessionGone(response)) {
      await forgetSignedOut();
      return "gone";
    }
    if (response.status === 200 && response.redirected && START_PATHS.has(url.pathname)) {
      await noteStartPage(url, response);
    } else if (response.status === 200 && !response.redirected) {
      // An error is not the page: keep what we had.
      await storePage(url, response);
    }
  } catch (error) {
    // offline meanwhile: try again on the next page load
  }
  return "";
}

/* ---------- the start URL offline: "/" (and the manifest's /?source=pwa) opens where it leads ---------- */

// "/" only redirects (to the rep's home, a manager's queue): a redirect cannot answer a navigation from
// the cache, so the worker remembers where it led and serves that page for it offline.
const START_PATHS = new Set(["/"]);
const START_KEY_URL = "/__fieldpace/start-page";

async function noteStartPage(url, response) {
  const user = response.headers.get("X-Fieldpace-User");
  const landed = new URL(response.url);
  if (!user || landed.origin !== self.location.origin) return;
  await noteSignedIn(user);
  const state = await caches.open(STATE_CACHE);
  await state.put(START_KEY_URL, new Response(JSON.stringify({ user, path: landed.pathname })));
  // Where it led is a page of its own: kept too (an unredirected copy), in case it was not prefetched.
  const pages = await caches.open(pagesCacheFor(user));
  if (!(await pages.match(pageKey(landed)))) await pages.put(pageKey(landed), unredirected(response));
}

async function startPageFor(user) {
  const state = await caches.open(STATE_CACHE);
  const entry = await state.match(START_KEY_URL);
  if (!entry) return "";
  try {
    const start = JSON.parse(await entry.text());
    return start && start.user === user ? start.path : "";
  } catch (error) {
    return "";
  }
}

/* ---------- whose pages: one cache per user, cleared when the session is gone ---------- */

function pagesCacheFor(user) {
  return PAGES_PREFIX + user;
}

async function signedInUser() {
  const state = await caches.open(STATE_CACHE);
  const entry = await state.match(USER_KEY_URL);
  return entry ? (await entry.text()).trim() : "";
}

async function setSignedInUser(user) {
  const state = await caches.open(STATE_CACHE);
  if (user) await state.put(USER_KEY_URL, new Response(user));
  else {
    await state.delete(USER_KEY_URL);
    await state.delete(START_KEY_URL);
  }
}

// The server answered as if nobody were signed in: the sign-in page (which a
// signed-in browser is redirected away from) or a 401.
function sessionGone(response) {
  if (response.status === 401) return true;
  try {
    // 200 only: a signed-in browser asking for /login gets a redirect (an
    // opaque one, status 0, in a navigation), which says nothing of the kind.
    return response.status === 200 && response.url !== "" && new URL(response.url).pathname === "/login";
  } catch (error) {
    return false;
  }
}

// Nobody is signed in on this browser any more: every user's cached pages go,
// and the data the outbox pulled for offline use (unsynced writes stay, kept
// under their own user; see docs/architecture.md).
async function forgetSignedOut() {
  const names = await caches.keys();
  await Promise.all(
    names
      .filter((name) => name.startsWith(PAGES_PREFIX) || name === LEGACY_PAGES_CACHE)
      .map((name) => caches.delete(name)),
  );
  await setSignedInUser("");
  const outbox = self.fieldpaceOutbox;
  if (outbox && typeof outbox.forgetSignedOutData === "function") {
    try {
      await outbox.forgetSignedOutData();
    } catch (error) {
      // the pages are gone, which is what matters most
    }
  }
}

// A page of `user` arrived: if someone else was signed in before, their pages go.
async function noteSignedIn(user) {
  if ((await signedInUser()) === user) return;
  const names = await caches.keys();
  await Promise.all(
    names
      .filter((name) => name.startsWith(PAGES_PREFIX) && name !== pagesCacheFor(user))
      .map((name) => caches.delete(name)),
  );
  await setSignedInUser(user);
}

async function storePage(url, response) {
  const user = response.headers.get("X-Fieldpace-User");
  // Public pages (no user) and pages that asked not to be kept are never stored.
  if (!user || response.headers.get("X-Fieldpace-Cache") === "no-store") return;
  await noteSignedIn(user);
  const cache = await caches.open(pagesCacheFor(user));
  await cache.put(pageKey(url), response);
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
  if (request.method !== "GET") {
    noteWrite(request);
    return;
  }

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
  const cached =
    (await caches.match(request, { cacheName: SHELL_CACHE })) || (await currentStaticCopy(request));
  return cached || fetch(request);
}

function pageKey(url) {
  const key = new URL(url.href);
  key.hash = "";
  return key.href;
}

async function networkFirstPage(event, url) {
  const network = fetch(event.request);
  // On a slow link, a page opened before is shown from this phone at once (see "Fast on one bar" below).
  const early = await cachedIfSlow(event, url, network);
  if (early) return early;
  let response;
  try {
    response = await network;
  } catch (error) {
    return offlinePage(url);
  }
  // e.g. quota: serving the page matters more
  event.waitUntil(keepPage(url, response.clone()).catch(() => undefined));
  return response;
}

// What a page's answer means for the cache. Resolves true when it is a page worth showing instead.
async function keepPage(url, response) {
  if (sessionGone(response)) {
    // Signed out, expired or revoked, with or without the sign-out button.
    await forgetSignedOut();
    return false;
  }
  if (response.status === 200 && !UNCACHEABLE_PAGES.has(url.pathname)) {
    await storePage(url, response);
    return !response.redirected;
  }
  return false;
}

async function offlinePage(url) {
  const key = pageKey(url);
  const user = await signedInUser();
  if (user) {
    const pages = await caches.open(pagesCacheFor(user));
    const page =
      (await pages.match(key)) || (await pages.match(key, { ignoreSearch: true }));
    if (page) return page;
    const start = START_PATHS.has(url.pathname) ? await startPageFor(user) : "";
    const landing = start && (await pages.match(new URL(start, self.location.origin).href));
    if (landing) return landing;
  }

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

// ============================================================================
// Fast on one bar. Static files have content-hashed URLs (server/assets.py),
// immutable: what the HTTP cache holds under one is right, and a page cached
// under an earlier version asks for that version's names. Pages: the network
// with a short timeout; past it, a copy on this phone is shown, the network's
// answer still replaces it in the cache, and the page shows an "updated" mark
// (pwa.js) with a button to see it. docs/architecture.md says why.
// ============================================================================

// Past this, a page opened before is shown from this phone. On 4G a page answers well within it.
// FIELDPACE_PAGE_TIMEOUT_MS, written in by the server (400 by default).
const PAGE_TIMEOUT_MS = Number("__FIELDPACE_PAGE_TIMEOUT_MS__") || 400;
// A navigation this soon after a form post (a save, an approval) waits for the server: it carries the
// flash message and the new state, which no cached copy has.
const FRESH_AFTER_WRITE_MS = 10000;
const HASHED_STATIC = /^\/static\/(.+)\.[0-9a-f]{12}(\.[A-Za-z0-9]+)$/;
const HASHED_URLS = new Set(Object.values(STATIC_URLS));
let lastWriteAt = 0;

function shellRequest(url) {
  // A hashed URL's bytes never change, so the copy the page has just loaded into the HTTP cache is the
  // right one (a first visit on one bar does not download the shell twice). Anything else bypasses the
  // HTTP cache, so the shell stored for this VERSION is what the server serves now.
  return HASHED_URLS.has(url) ? new Request(url) : new Request(url, { cache: "reload" });
}

// The current version's copy of the static file a request names by an older hash (or no hash).
async function currentStaticCopy(request) {
  const path = new URL(request.url).pathname;
  const hashed = HASHED_STATIC.exec(path);
  const name = hashed ? hashed[1] + hashed[2] : path.startsWith("/static/") ? path.slice("/static/".length) : "";
  const current = STATIC_URLS[name];
  if (!current || current === path) return undefined;
  return caches.match(current, { cacheName: SHELL_CACHE });
}

function noteWrite(request) {
  // The outbox's sync traffic goes to /api/ and is no reason to wait for the network.
  if (!new URL(request.url).pathname.startsWith("/api/")) lastWriteAt = Date.now();
}

async function cachedPage(url) {
  const user = await signedInUser();
  if (!user) return undefined;
  const pages = await caches.open(pagesCacheFor(user));
  return pages.match(pageKey(url));
}

// The cached copy of the page when the network has not answered within PAGE_TIMEOUT_MS, else null (the
// caller then waits for the network as before). The network's late answer is kept and the page told.
async function cachedIfSlow(event, url, network) {
  if (Date.now() - lastWriteAt < FRESH_AFTER_WRITE_MS || UNCACHEABLE_PAGES.has(url.pathname)) return null;
  // Looked up while the network is awaited, so a slow answer costs the timeout and nothing more.
  const copy = cachedPage(url).catch(() => undefined);
  let timer;
  const slow = await Promise.race([
    network.then(() => false, () => false),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(true), PAGE_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  if (!slow) return null;
  const cached = await copy;
  if (!cached) return null;
  const shown = cached.clone().text();
  event.waitUntil(
    network
      .then(async (response) => {
        const text = response.clone().text();
        if ((await keepPage(url, response)) && !samePage(await shown, await text)) {
          await tellPageUpdated(event.resultingClientId, url);
        }
      })
      .catch(() => undefined), // offline after all: the copy shown is all there is
  );
  return cached;
}

// Two renderings of one page that differ only in what every rendering makes anew (form ids, tokens, the
// time a form was rendered) are the same page: no "updated" mark for them.
function samePage(a, b) {
  const volatile = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{64,}|data-rendered-at="[^"]*"/g;
  return a.replace(volatile, "") === b.replace(volatile, "");
}

// The page shown from the cache may not exist yet when the network answers: ask again for a while.
async function tellPageUpdated(clientId, url) {
  for (let attempt = 0; clientId && attempt < 40; attempt += 1) {
    const client = await self.clients.get(clientId);
    if (client) {
      client.postMessage({ type: "PAGE_UPDATED", url: url.href });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// ============================================================================
// Web Push (jobs-push). Everything below is about notifications; the caching
// above is separate. A push's payload: {id, kind, title, body, url, page, tag}
// where `url` is /inbox/<id>/open (marks the inbox item read, then redirects
// to `page`, the page the alert is about).
// ============================================================================

function pushPayload(event) {
  if (!event.data) return {};
  try {
    return event.data.json() || {};
  } catch (error) {
    return { body: event.data.text() };
  }
}

function sameOriginUrl(raw, fallback) {
  try {
    const candidate = new URL(raw || fallback, self.location.origin);
    if (candidate.origin === self.location.origin) return candidate;
  } catch (error) {
    // not a URL: keep the fallback
  }
  return new URL(fallback, self.location.origin);
}

self.addEventListener("push", (event) => {
  const payload = pushPayload(event);
  const title = typeof payload.title === "string" && payload.title ? payload.title : "Fieldpace";
  const options = {
    body: typeof payload.body === "string" ? payload.body : "",
    icon: ICON_URL,
    badge: ICON_URL,
    data: {
      id: typeof payload.id === "string" ? payload.id : "",
      url: typeof payload.url === "string" && payload.url ? payload.url : "/inbox",
      page: typeof payload.page === "string" && payload.page ? payload.page : "/inbox",
    },
    silent: false,
  };
  if (typeof payload.tag === "string" && payload.tag) {
    // A second alert with the same tag (the same rule and subject) replaces the first...
    options.tag = payload.tag;
    // ...and still alerts the user.
    options.renotify = true;
  }
  // Every push shows a notification, whatever it holds: browsers require it of
  // userVisibleOnly subscriptions, and iOS revokes subscriptions that push silently.
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  // Only our own origin may be opened from a notification payload.
  const open = sameOriginUrl(data.url, "/inbox");
  const page = sameOriginUrl(data.page, "/inbox");

  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      // A window already on the alert's page is focused, never navigated (it may
      // hold an unsaved form); the inbox item is marked read by fetching its link.
      const same = windows.find((client) => pageKey(new URL(client.url)) === pageKey(page));
      if (same) {
        await fetch(open.href, { credentials: "same-origin", redirect: "manual" }).catch(() => undefined);
        return same.focus();
      }
      const opened = await self.clients.openWindow(open.href);
      if (opened) return opened;
      if (windows.length > 0) return windows[0].focus();
      return undefined;
    })(),
  );
});
