// Keeps a page's live panels up to date without reloading the page (a reload would wipe a resolution note being
// typed). Every `data-live-every` seconds it fetches the page's main part (`data-live-url`: `?live=1`, marked
// `?auto=1` so it neither keeps the session awake nor is audited as someone looking again) and swaps in each element
// marked `data-live`, by id — except a panel holding a form someone is using (the focus is in it, or a field differs
// from what the server drew): that one waits for the next round after the form is sent or left untouched. A panel
// the server draws the same is not touched.
// Without this script the page still works: its "Refresh" link reloads it.
(function () {
  "use strict";
  var body = document.body;
  var every = Number(body.dataset.liveEvery);
  var url = body.dataset.liveUrl;
  if (!every || !url || !window.fetch || !window.DOMParser) { return; }

  function changed(field) {
    if (field.type === "hidden" || field.type === "submit" || field.type === "button") { return false; }
    if (field.type === "checkbox" || field.type === "radio") { return field.checked !== field.defaultChecked; }
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return field.value !== field.defaultValue;
  }

  function inUse(panel) {
    var focused = document.activeElement;
    if (focused && focused !== panel && panel.contains(focused) && focused.closest("form")) { return true; }
    return Array.prototype.some.call(panel.querySelectorAll("input, textarea, select"), changed);
  }

  function swap(fresh) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-live]"), function (panel) {
      var replacement = panel.id && fresh.getElementById(panel.id);
      // A panel that says the same is left as it is: an alert region is re-announced only when it changes.
      if (replacement && !inUse(panel) && replacement.outerHTML !== panel.outerHTML) {
        panel.replaceWith(document.importNode(replacement, true));
      }
    });
  }

  function update() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (response) {
      var landed = new URL(response.url, window.location.href);
      if (response.redirected && landed.pathname !== window.location.pathname) {
        window.location.assign(landed.pathname);  // signed out meanwhile: show the sign-in page, as a reload would
        return null;
      }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html) { swap(new DOMParser().parseFromString(html, "text/html")); }
    }).catch(function () { /* the network is down a moment: the next round tries again */ });
  }

  window.setInterval(update, every * 1000);
})();
