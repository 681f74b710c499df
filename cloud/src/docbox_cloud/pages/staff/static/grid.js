// Polls the grid every few seconds and renders one cell per compartment with its actions.
"use strict";
(function () {
  const grid = document.getElementById("grid");
  const status = document.getElementById("status");
  const box = grid.dataset.box;
  const base = "/staff/api/boxes/" + encodeURIComponent(box);

  function button(label, action, number) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.action = action;
    b.setAttribute("aria-label", label + " compartment " + number);
    b.addEventListener("click", async () => {
      b.disabled = true;
      status.textContent = label + " " + number + "…";
      const r = await fetch(base + "/compartments/" + number + "/" + action, { method: "POST" });
      const body = await r.json().catch(() => ({}));
      status.textContent = r.ok && body.ok !== false ? label + " " + number + ": done" : label + " " + number + ": " + (body.error || body.detail || r.status);
      refresh();
    });
    return b;
  }

  function render(cells) {
    grid.replaceChildren(...cells.map((c) => {
      const div = document.createElement("div");
      div.className = "cell " + c.state;
      div.dataset.number = c.number;
      div.dataset.state = c.state;
      const label = document.createElement("span");
      label.textContent = c.number + " " + (c.size || "") + " · " + c.state.replace("_", " ");
      div.append(label);
      if (c.state === "defective") div.append(button("Repaired", "repaired", c.number));
      else div.append(button("Defective", "defective", c.number));
      if (c.document_code && (c.state === "to_retrieve" || c.state === "loaded")) div.append(button("Retrieve", "retrieve", c.number));
      return div;
    }));
  }

  async function refresh() {
    try {
      const r = await fetch(base + "/grid", { headers: { Accept: "application/json" } });
      if (r.status === 401) { window.location = "/staff/login"; return; }
      render(await r.json());
      grid.dataset.loaded = "true";
    } catch (e) {
      status.textContent = "Connection lost, retrying…";
    }
  }

  refresh();
  setInterval(refresh, 3000);
})();
