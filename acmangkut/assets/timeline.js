// Keeps an execution's timeline current without reloading the page: while the execution has
// not ended (data-live="true"), fetch the fragment every two seconds and swap it in. Without
// this script the page still works: it has a refresh link.
(function () {
  "use strict";
  var PERIOD = 2000;
  var box = document.getElementById("timeline");
  if (!box || box.getAttribute("data-live") !== "true") {
    return;
  }
  function tick() {
    fetch(box.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.text();
      })
      .then(function (html) {
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var next = t.content.getElementById("timeline");
        if (!next) {
          throw new Error("no timeline in the answer");
        }
        box.replaceWith(next);
        box = next;
        if (box.getAttribute("data-live") === "true") {
          setTimeout(tick, PERIOD);
        }
      })
      .catch(function () {
        // A network blip or a restart: try again, more slowly.
        setTimeout(tick, PERIOD * 3);
      });
  }
  setTimeout(tick, PERIOD);
})();
