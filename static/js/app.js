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

  // Behaviour the pages declare with data attributes (no inline handlers: the Content-Security-Policy
  // allows only scripts from this site's files).
  document.addEventListener("change", (event) => {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });
  document.addEventListener("click", (event) => {
    if (event.target.matches("input[data-select-on-click]")) event.target.select();
  });
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && event.target.tagName === "FORM" && !confirm(message)) event.preventDefault();
  });

  return { api, csrfToken, formatBytes, formatSeconds, element, lang };
})();
