// Swagger UI for the API page: the schema URL comes from the page, and "Try it out" sends the
// page's CSRF token so session-authenticated writes work as they do in the app.
(function () {
  "use strict";
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("swagger-ui");
    if (!root || !window.SwaggerUIBundle) {
      return;
    }
    window.ui = window.SwaggerUIBundle({
      url: root.dataset.schemaUrl,
      dom_id: "#swagger-ui",
      deepLinking: true,
      docExpansion: "list",
      requestInterceptor: function (request) {
        request.headers["X-CSRFToken"] = csrfToken();
        return request;
      },
    });
  });
})();
