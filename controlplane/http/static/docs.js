// /docs: the routes of /openapi.json as a table (shipped with the package; no CDN).
"use strict";

document.addEventListener("DOMContentLoaded", async () => {
  const spec = await (await fetch("/openapi.json")).json();
  document.title = `${spec.info.title}: HTTP API`;
  const body = document.querySelector("#routes tbody");
  for (const [path, operations] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const row = document.createElement("tr");
      const params = (op.parameters || []).map((p) => `${p.name}${p.required ? "" : "?"} (${p.in}${p.schema && p.schema.type ? ", " + p.schema.type : ""})`);
      const bodySchema = op.requestBody ? op.requestBody.content["application/json"].schema : null;
      const cells = [method.toUpperCase(), path, params.join(", "), bodySchema ? (bodySchema.title || "JSON") : "", op.summary || ""];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }
  }
});
