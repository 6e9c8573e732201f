// After a refused submit the page comes back with what to fix. Keyboard and screen-reader users should not have to
// hunt for it: focus moves to the first field marked invalid, or else to the first refusal message (made focusable
// for this), so it is read out and the next Tab continues from there. Runs once per page load, never on a live
// panel update, so it cannot pull the focus away from someone typing.
(function () {
  "use strict";
  var main = document.getElementById("main") || document.body;
  var field = main.querySelector("[aria-invalid='true']");
  var target = field || main.querySelector(".error[role='alert']");
  if (!target) { return; }
  if (!field && !target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
  target.focus();
  if (target.scrollIntoView) { target.scrollIntoView({ block: "center" }); }
})();
