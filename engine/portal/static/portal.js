// dbvend portal: refresh a request's status in place until it is final. Nothing else runs here.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.live) { return; }
  var url = live.dataset.live;
  function isFinal() {
    var marker = live.querySelector("[data-final]");
    return marker !== null && marker.getAttribute("data-final") === "yes";
  }
  function refresh() {
    if (isFinal()) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        // The fragment is rendered by the server with every value escaped.
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.body.firstElementChild;
        var old = live.firstElementChild;
        if (fresh && old && fresh.outerHTML !== old.outerHTML) { live.replaceChildren(fresh); }
        setTimeout(refresh, 2000);
      })
      .catch(function () { setTimeout(refresh, 5000); });
  }
  setTimeout(refresh, 1000);
})();
