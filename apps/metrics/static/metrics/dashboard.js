// The admin index's workload cards follow deploys and state changes without a reload: every
// few seconds (not while the tab is hidden) the page is fetched again and the cards are
// replaced by the fresh ones, rendered by the server from the database like the first time.
(function () {
  "use strict";
  function refresh(root) {
    fetch(window.location.href, {credentials: "same-origin", headers: {Accept: "text/html"}})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("tf-dashboard");
        var current = document.getElementById("tf-dashboard");
        if (fresh && current) {
          current.replaceWith(fresh);
          fresh.dataset.refreshed = String(Date.now());
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("tf-dashboard");
    if (!root) { return; }
    var every = parseInt(root.dataset.refreshMs, 10) || 10000;
    setInterval(function () { if (!document.hidden) { refresh(root); } }, every);
  });
})();
