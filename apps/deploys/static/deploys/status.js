// The workload page's status header: polls GET /api/workloads/{id}/status (read from the
// database, no engine call) every few seconds and re-renders it. Every word comes translated
// from the server (the endpoint's values, the labels in #tf-status-labels); none is here.
(function () {
  "use strict";
  const root = document.getElementById("tf-status");
  if (!root) return;
  const labels = JSON.parse(document.getElementById("tf-status-labels").textContent);
  const every = parseInt(root.dataset.refreshMs, 10) || 4000;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => node.setAttribute(key, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function copy(text, button) {
    const done = () => { button.textContent = labels.copied; setTimeout(() => { button.textContent = labels.copy; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
      return;
    }
    const area = el("textarea", {style: "position:fixed;left:-1000px;top:0"});
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    done();
  }

  function field(name, ...children) {
    const node = root.querySelector(`[data-field="${name}"]`);
    node.replaceChildren(...children.filter(Boolean));
    return node;
  }

  function render(status) {
    root.dataset.state = status.state;
    root.dataset.version = status.version ? status.version.digest : "";
    const state = field("state", document.createTextNode(status.state_label));
    state.className = "tf-state tf-state-" + status.state;
    if (status.version) {
      const button = el("button", {type: "button", class: "tf-copy", title: labels.copyTitle}, labels.copy);
      button.addEventListener("click", () => copy(status.version.digest, button));
      field("version", el("strong", {}, labels.version), document.createTextNode(" "),
            el("code", {class: "tf-tag", title: status.version.tag}, status.version.tag),
            document.createTextNode(" "),
            el("code", {class: "tf-digest", title: status.version.digest}, status.version.short),
            document.createTextNode(" "), button);
    } else {
      field("version", el("strong", {}, labels.version), document.createTextNode(" —"));
    }
    field("since", status.since ? el("strong", {}, labels.since) : null,
          status.since ? document.createTextNode(" " + status.since) : null);
    field("urls", ...status.urls.map((url) => el("a", {href: url, target: "_blank", rel: "noopener"}, url)));
    const last = status.last_deploy;
    if (last) {
      const parts = [last.cause, last.when].concat(last.error ? [last.error] : []);
      field("last", el("strong", {}, labels.lastDeploy), document.createTextNode(" "),
            el("a", {href: last.url}, "#" + last.id), document.createTextNode(" "),
            el("span", {class: "tf-deploy-" + last.status}, last.status_label),
            document.createTextNode(" · " + parts.join(" · ")));
    } else {
      field("last", el("strong", {}, labels.lastDeploy), document.createTextNode(" " + labels.noDeploy));
    }
  }

  // A new deploy changes the history below too: swap in the page's fresh history panel
  // (one page fetch per change, not per tick).
  let lastDeployId = null;
  async function refreshHistory() {
    const history = document.getElementById("tf-deploy-history");
    if (!history) return;
    try {
      const response = await fetch(window.location.href, {credentials: "same-origin"});
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html")
        .getElementById("tf-deploy-history");
      if (fresh) history.replaceWith(document.importNode(fresh, true));
    } catch (error) {
      // Kept as it was; the next change tries again.
    }
  }

  async function refresh() {
    try {
      const response = await fetch(root.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (response.ok) {
        const status = await response.json();
        render(status);
        const deployId = status.last_deploy ? status.last_deploy.id + ":" + status.last_deploy.status : "";
        if (lastDeployId !== null && deployId !== lastDeployId) await refreshHistory();
        lastDeployId = deployId;
        root.dataset.refreshed = String(Date.now());
      }
    } catch (error) {
      // Offline for a moment: the next tick tries again.
    }
  }

  function tick() {
    if (!document.hidden) refresh();
  }
  refresh();
  setInterval(tick, every);
})();
