/*
 * "Customers near me": the rep's customers sorted by distance from where the phone is. Everything is
 * computed here, from the customers the outbox keeps on the phone (its `records` store, filled by sync
 * pulls), so it works offline. The distance is the same haversine formula as server/geo.py.
 */
(function () {
  "use strict";
  var root = document.getElementById("near-me");
  if (!root) return;
  var status = root.querySelector("[data-status]");
  var results = root.querySelector("[data-results]");
  var l = root.dataset;
  var locale = document.documentElement.lang || "en";

  function distanceM(lat1, lng1, lat2, lng2) {
    var rad = Math.PI / 180, r = 6371008.8;
    var dp = (lat2 - lat1) * rad, dl = (lng2 - lng1) * rad;
    var a = Math.pow(Math.sin(dp / 2), 2) + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.pow(Math.sin(dl / 2), 2);
    return 2 * r * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  function label(d) {
    if (d < 1000) return l.labelM.replace("{n}", Math.round(d).toLocaleString(locale));
    return l.labelKm.replace("{n}", (d / 1000).toLocaleString(locale, { maximumFractionDigits: 1 }));
  }

  function render(here, customers) {
    var placed = customers.filter(function (c) {
      return typeof c.latitude === "number" && typeof c.longitude === "number";
    }).map(function (c) {
      return { c: c, d: distanceM(here.latitude, here.longitude, c.latitude, c.longitude) };
    }).sort(function (a, b) { return a.d - b.d; });
    results.textContent = "";
    status.textContent = placed.length ? "" : l.labelEmpty;
    placed.forEach(function (p) {
      var li = document.createElement("li");
      li.className = "near-item";
      var a = document.createElement("a");
      a.href = "/customers/" + p.c.id;
      var name = document.createElement("strong"); name.textContent = p.c.name;
      var dist = document.createElement("span"); dist.className = "muted"; dist.textContent = " " + label(p.d);
      dist.setAttribute("data-distance", String(Math.round(p.d)));
      a.appendChild(name); a.appendChild(dist);
      var visit = document.createElement("a");
      visit.className = "button secondary"; visit.href = "/visits/new?customer=" + p.c.id; visit.textContent = l.labelVisit;
      li.appendChild(a); li.appendChild(visit);
      results.appendChild(li);
    });
  }

  function locate() {
    if (!navigator.geolocation || !window.fieldpaceOutbox) { status.textContent = l.labelDenied; return; }
    status.textContent = l.labelLocating;
    navigator.geolocation.getCurrentPosition(function (pos) {
      window.fieldpaceOutbox.localRecords("customer").then(function (customers) {
        render(pos.coords, customers || []);
      });
    }, function () { status.textContent = l.labelDenied; }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  root.querySelector("[data-action=locate]").addEventListener("click", locate);
})();
