// The chair board's countdowns to each patient's earliest allowed discharge. The board works without this script: the
// server already wrote "16:05: in 1h 23m" and the live refresh re-draws it. Here each countdown ticks every second,
// measured against the server's clock (the table's `data-now`, not the tablet's own, which may be wrong). The live
// refresh swaps in a new table now and then; its countdowns are picked up at the next tick, with its own clock.
(function () {
  "use strict";

  function remaining(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) { return "in " + h + "h " + m + "m"; }
    if (m) { return "in " + m + "m " + s + "s"; }
    return "in " + s + "s";
  }

  function tick() {
    var table = document.getElementById("board-table");
    if (!table) { return; }
    if (table.carepathSkew === undefined) { table.carepathSkew = Date.parse(table.dataset.now) - Date.now(); }
    var now = Date.now() + table.carepathSkew;
    Array.prototype.forEach.call(table.querySelectorAll(".board-countdown"), function (box) {
      var left = box.querySelector(".countdown-left");
      var seconds = Math.ceil((Date.parse(box.dataset.deadline) - now) / 1000);
      if (!left) { return; }
      left.textContent = seconds > 0 ? remaining(seconds) : "reached";
      left.className = "countdown-left " + (seconds > 0 ? "open" : "passed");
    });
  }

  window.setInterval(tick, 1000);
  tick();
})();
