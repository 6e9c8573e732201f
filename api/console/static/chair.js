// The chair's countdown to the earliest allowed discharge. The page works without this script: the server already
// wrote "in 1h 23m". Here it ticks every second, measured against the server's clock (not the tablet's, which may be
// wrong), and reloads the page when the time is reached so the gates panel shows the new state; it does not reload
// while a form has unsent input, so nothing typed is lost.
(function () {
  "use strict";
  var box = document.getElementById("countdown");
  var left = document.getElementById("countdown-left");
  if (!box || !left || box.dataset.done === "yes") { return; }
  var deadline = Date.parse(box.dataset.deadline);
  var skew = Date.parse(box.dataset.now) - Date.now();
  var edited = false;
  document.addEventListener("input", function () { edited = true; });

  function remaining(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) { return "in " + h + "h " + m + "m"; }
    if (m) { return "in " + m + "m " + s + "s"; }
    return "in " + s + "s";
  }

  function tick() {
    var seconds = Math.ceil((deadline - (Date.now() + skew)) / 1000);
    if (seconds > 0) { left.textContent = remaining(seconds); return; }
    clearInterval(timer);
    left.textContent = "reached";
    left.className = "passed";
    if (!edited) { window.location.reload(); } else { left.textContent = "reached: reload the page to update the gates"; }
  }

  // Already reached when the page was drawn: the server showed it so; nothing to count (and no reload loop).
  if (deadline - (Date.now() + skew) <= 0) { return; }
  var timer = setInterval(tick, 1000);
  tick();
})();
