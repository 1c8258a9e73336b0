// Citadel console: small progressive enhancements. Everything works without this file.
"use strict";
(function () {
  // Copy buttons: <button data-copy="element-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // Metadata files: <input type="file" data-fill="textarea-id"> copies the file's text there
  // (the form posts the textarea; without this file the document is pasted).
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.hasAttribute || !input.hasAttribute("data-fill") || !input.files || !input.files.length) return;
    var target = document.getElementById(input.getAttribute("data-fill"));
    if (target) input.files[0].text().then(function (text) { target.value = text; });
  });

  // Live progress: <p data-poll="/deployments/ID/status"> updates until healthy or stopped.
  var live = document.querySelector("[data-poll]");
  if (live) {
    var url = live.getAttribute("data-poll");
    var tick = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          var status = document.getElementById("deployment-status");
          if (status) {
            status.textContent = s.status;
            status.className = "badge " + (s.healthy ? "ok" : (s.locked ? "bad" : "warn"));
          }
          var detail = document.getElementById("deployment-detail");
          if (detail) detail.textContent = s.detail || "";
          if (!s.final) setTimeout(tick, 1500);
        })
        .catch(function () { setTimeout(tick, 5000); });
    };
    setTimeout(tick, 1000);
  }
})();
