/*
 * The notifications screen: turn Web Push on or off for this device.
 * The permission prompt appears only after a tap on "Turn on notifications", never on page load.
 * On iOS outside the home screen there is no PushManager: the screen shows the Add to Home Screen steps.
 */
(function () {
  "use strict";

  function cookie(name) {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("fieldpace_csrf") },
      body: JSON.stringify(body),
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function isIos() {
    var ua = navigator.userAgent || "";
    return /iPad|iPhone|iPod/.test(ua) || (ua.indexOf("Macintosh") >= 0 && navigator.maxTouchPoints > 1);
  }

  function standalone() {
    return navigator.standalone === true || !!(window.matchMedia && window.matchMedia("(display-mode: standalone)").matches);
  }

  function start() {
    var box = document.getElementById("push-device");
    if (!box) return;
    var status = document.getElementById("push-status");
    var enable = document.getElementById("push-enable");
    var disable = document.getElementById("push-disable");
    function say(key) { status.textContent = box.dataset[key] || ""; }

    // iOS and iPadOS deliver Web Push only to an app added to the home screen (16.4+), whatever the tab offers.
    if (isIos() && !standalone()) {
      document.getElementById("ios-push-steps").hidden = false;
      return;
    }
    if (!("serviceWorker" in navigator && "PushManager" in window && "Notification" in window)) {
      say("labelUnsupported");
      return;
    }
    navigator.serviceWorker.ready.then(function (registration) {
      return registration.pushManager.getSubscription().then(function (subscription) {
        if (subscription && Notification.permission === "granted") {
          say("labelOn");
          disable.hidden = false;
          // Keep the server's row current (keys can change when the browser renews a subscription).
          postJson("/api/v1/push/subscriptions", subscription.toJSON()).catch(function () {});
        } else {
          if (Notification.permission === "denied") say("labelDenied");
          enable.hidden = false;
        }
        enable.addEventListener("click", function () {
          enable.disabled = true;
          Notification.requestPermission().then(function (permission) {
            if (permission !== "granted") {
              say("labelDenied");
              enable.disabled = false;
              return;
            }
            return registration.pushManager
              .subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(box.dataset.vapidKey) })
              .then(function (made) { return postJson("/api/v1/push/subscriptions", made.toJSON()); })
              .then(function () { window.location.reload(); });
          }).catch(function () {
            say("labelFailed");
            enable.disabled = false;
          });
        });
        disable.addEventListener("click", function () {
          disable.disabled = true;
          registration.pushManager.getSubscription().then(function (current) {
            if (!current) return window.location.reload();
            var endpoint = current.endpoint;
            return current.unsubscribe().then(function () {
              return postJson("/api/v1/push/unsubscribe", { endpoint: endpoint });
            }).then(function () { window.location.reload(); });
          }).catch(function () {
            say("labelFailed");
            disable.disabled = false;
          });
        });
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
