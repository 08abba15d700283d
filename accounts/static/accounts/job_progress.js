// A background job's progress page (templates/admin/accounts/backgroundjob/progress.html):
// poll progress.json until the job ends and update the bar, the counts, the status and
// the errors link. No dependencies.
(function () {
  "use strict";

  function start() {
    var root = document.querySelector(".job-progress[data-progress-url]");
    if (!root) return;
    var url = root.getAttribute("data-progress-url");
    var pollMs = parseInt(root.getAttribute("data-poll-ms"), 10) || 1000;
    var bar = document.getElementById("job-bar");
    var failures = 0;

    function text(id, value) {
      var el = document.getElementById(id);
      if (el) el.textContent = value;
    }

    function show(id, visible) {
      var el = document.getElementById(id);
      if (el) el.hidden = !visible;
    }

    function render(state) {
      bar.max = state.total || 1;
      bar.value = state.done;
      bar.textContent = state.percent + "%";
      text("job-done", state.done);
      text("job-total", state.total);
      text("job-percent", state.percent);
      text("job-errors", state.error_count);
      text("job-status", state.status_label);
      document.getElementById("job-status").setAttribute("data-status", state.status);
      text("job-failure", state.failure_message || "");
      show("job-failure", !!state.failure_message);
      show("job-errors-link", state.ended && state.error_count > 0);
      show("job-hint", !state.ended);
      root.setAttribute("data-ended", state.ended ? "true" : "false");
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (state) {
          failures = 0;
          render(state);
          if (!state.ended) window.setTimeout(poll, pollMs);
        })
        .catch(function () {
          // A restart or a blip: back off, up to 30 s between tries.
          failures += 1;
          window.setTimeout(poll, Math.min(30000, pollMs * Math.pow(2, failures)));
        });
    }

    if (root.getAttribute("data-ended") !== "true") window.setTimeout(poll, pollMs);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
