// The workload page's log panel: loads the newest lines, then follows the log by polling
// GET /api/workloads/{id}/logs?since=<cursor of the newest line shown>. Every word comes
// translated from the page (#tf-logs-labels); the lines arrive masked from the server.
(function () {
  "use strict";
  const root = document.getElementById("tf-logs");
  if (!root) return;
  const labels = JSON.parse(document.getElementById("tf-logs-labels").textContent);
  const body = root.querySelector(".tf-logs-body");
  const status = root.querySelector(".tf-logs-status");
  const tailSelect = document.getElementById("tf-logs-tail");
  const serviceSelect = document.getElementById("tf-logs-service");
  const follow = document.getElementById("tf-logs-follow");
  const every = parseInt(root.dataset.followMs, 10) || 2000;
  let cursor = null;
  let generation = 0;
  let busy = false;

  function query() {
    const params = new URLSearchParams({tail: tailSelect.value});
    if (serviceSelect && serviceSelect.value) params.set("service", serviceSelect.value);
    if (cursor) params.set("since", cursor);
    return root.dataset.url + "?" + params.toString();
  }

  function append(lines) {
    const atBottom = body.scrollTop + body.clientHeight >= body.scrollHeight - 4;
    const limit = parseInt(tailSelect.value, 10);
    const showService = !!serviceSelect && !serviceSelect.value;
    lines.forEach((line) => {
      const row = document.createElement("div");
      row.className = "tf-logs-line";
      const time = document.createElement("span");
      time.className = "tf-logs-time";
      time.textContent = line.time.replace("T", " ").slice(0, 19) + " ";
      row.appendChild(time);
      if (showService && line.service) {
        const service = document.createElement("span");
        service.className = "tf-logs-service";
        service.textContent = "[" + line.service + "] ";
        row.appendChild(service);
      }
      row.appendChild(document.createTextNode(line.text));
      body.appendChild(row);
    });
    while (body.childElementCount > limit) body.firstElementChild.remove();
    root.dataset.lines = String(body.childElementCount);
    if (atBottom) body.scrollTop = body.scrollHeight;
  }

  async function load() {
    if (busy) return;
    busy = true;
    const mine = generation;
    try {
      const response = await fetch(query(), {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (mine !== generation) return;
      if (!response.ok) throw new Error(String(response.status));
      const answer = await response.json();
      append(answer.lines);
      cursor = answer.cursor || cursor;
      status.textContent = body.childElementCount ? "" : labels.empty;
      root.dataset.state = "ready";
    } catch (error) {
      status.textContent = labels.error;
    } finally {
      busy = false;
    }
  }

  function restart() {
    generation += 1;
    cursor = null;
    busy = false;
    body.replaceChildren();
    load();
  }

  tailSelect.addEventListener("change", restart);
  if (serviceSelect) serviceSelect.addEventListener("change", restart);
  follow.addEventListener("change", () => { status.textContent = follow.checked ? "" : labels.paused; });
  load();
  setInterval(() => { if (follow.checked && !document.hidden) load(); }, every);
})();
