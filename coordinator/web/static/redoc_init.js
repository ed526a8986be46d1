// Starts ReDoc on /redoc (coordinator/web/api_docs.py) with the page's style nonce, which this
// script carries: ReDoc gives it to the <style> elements it creates, which the page's
// Content-Security-Policy allows by that nonce alone ('unsafe-inline' is not in it).
"use strict";
(function () {
  const element = document.querySelector("redoc[data-spec-url]");
  Redoc.init(element.dataset.specUrl, { nonce: document.currentScript.nonce }, element);
})();
