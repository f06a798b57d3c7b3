// Renders the API reference (ReDoc) from the schema URL the page names.
(function () {
  "use strict";
  var element = document.getElementById("redoc-ui");
  if (element && window.Redoc) {
    window.Redoc.init(element.dataset.specUrl, {}, element);
  }
})();
