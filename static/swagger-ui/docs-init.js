// Starts Swagger UI on the API docs page. The document's URL comes from the page (data-openapi-url);
// no validator badge (it would call validator.swagger.io): the page makes no request outside the app.
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    displayOperationId: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
