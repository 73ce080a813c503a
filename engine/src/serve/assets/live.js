// lifeboat serve: live updates for the status pages. The server renders
// every fragment (escaped); this script only swaps it in. Without
// JavaScript the page refreshes itself (<noscript><meta refresh>).
(function () {
  "use strict";
  var url = document.body.getAttribute("data-events");
  var live = document.getElementById("live");
  var state = document.getElementById("connection");
  if (!url || !live || !window.EventSource) {
    return;
  }
  function show(text, cls) {
    if (state) {
      state.textContent = text;
      state.className = cls;
    }
  }
  var source = new EventSource(url);
  source.addEventListener("open", function () {
    show("live: updates as they happen", "live");
  });
  source.addEventListener("update", function (e) {
    live.innerHTML = e.data;
    var updates = Number(document.body.getAttribute("data-updates") || "0") + 1;
    document.body.setAttribute("data-updates", String(updates));
    show("live: updated " + new Date().toLocaleTimeString(), "live");
  });
  source.addEventListener("problem", function (e) {
    show("the store could not be read: " + e.data + " (retrying)", "problem");
  });
  source.addEventListener("end", function () {
    source.close();
    show("the run has finished: this page no longer changes", "ended");
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      show("disconnected from lifeboat serve: reload the page", "problem");
    } else {
      show("reconnecting to lifeboat serve…", "problem");
    }
  });
})();
