// After the identity provider's sign-in: go on to the page of the "Continue" link at once. It is this page, on our
// own site, that moves on (not a redirect chain another site started), so the SameSite=Strict session cookie set
// with this page is sent with the next request. Without JavaScript the link does the same.
(function () {
  "use strict";
  var onward = document.getElementById("onward");
  if (onward) { window.location.replace(onward.getAttribute("href")); }
})();
