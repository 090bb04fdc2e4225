// Shared helpers for HeyGem's pages: API calls with the session's CSRF token, and formatting
// that follows the page's language. `gettext` comes from Django's JavaScript catalog.
"use strict";

const HeyGem = (() => {
  const lang = document.documentElement.lang || "en";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Calls the REST API. Resolves with the parsed body; rejects with {code, message, status, body}.
  async function api(method, url, body, headers = {}) {
    const options = { method, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken(), ...headers } };
    if (body instanceof Blob || body instanceof ArrayBuffer) {
      options.body = body;
    } else if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      throw { code: "network", message: gettext("The connection was lost. Retrying…"), status: 0 };
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw { code: error.code || "http_" + response.status, message: error.message || response.statusText,
              status: response.status, body: data };
    }
    return data;
  }

  function formatBytes(bytes) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return new Intl.NumberFormat(lang, { maximumFractionDigits: unit ? 1 : 0 }).format(value) + " " + units[unit];
  }

  function formatSeconds(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "–";
    seconds = Math.round(seconds);
    const m = Math.floor(seconds / 60), s = seconds % 60;
    return m ? interpolate(gettext("%(m)s min %(s)s s"), { m, s }, true) : interpolate(gettext("%(s)s s"), { s }, true);
  }

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (key === "text") node.textContent = value;
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? "" : value);
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  return { api, csrfToken, formatBytes, formatSeconds, element, lang };
})();

// Behaviour the templates ask for with data attributes, so no page needs an inline script or handler
// (the Content-Security-Policy allows only scripts from this site's files): selects that submit their
// form, forms and buttons that ask first, secrets selected on click, and the phone menu.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !confirm(form.dataset.confirm)) event.preventDefault();
});
document.addEventListener("click", async (event) => {
  if (event.target.matches("input.secret, input[data-select-on-click]")) event.target.select();
  // Retry a failed video (gallery, player), then follow it on its job's page.
  const retry = event.target.closest("button.retry");
  if (retry) {
    retry.disabled = true;
    try {
      await HeyGem.api("POST", `/api/v1/results/${retry.dataset.result}/retry/`);
      window.location.href = `/jobs/${retry.dataset.job}/`;
    } catch (error) {
      retry.disabled = false;
      alert(error.message);
    }
  }
  const toggle = event.target.closest(".menu-toggle");
  if (toggle) {
    const bar = toggle.closest(".topbar");
    const open = !bar.hasAttribute("data-open");
    bar.toggleAttribute("data-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  }
});
