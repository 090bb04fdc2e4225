// The job view: one card per video, fed by the job's WebSocket. Each event carries `seq`; after a
// dropped connection the page reconnects with ?after=<last seq> and the server replays what it missed.
"use strict";

(() => {
  const root = document.getElementById("job");
  if (!root) return;
  const jobId = root.dataset.job;
  const { api, element, formatSeconds } = HeyGem;
  const STAGES = {
    speak: gettext("Speaking the script"), starting: gettext("Starting"), probe: gettext("Reading the files"), audio: gettext("Listening to the voice"),
    track: gettext("Tracking the face"), select: gettext("Choosing mouth shapes"), render: gettext("Rendering"),
    finish: gettext("Saving"), done: gettext("Done"),
  };
  const STATES = { queued: gettext("Queued"), running: gettext("Running"), succeeded: gettext("Succeeded"),
                   failed: gettext("Failed"), cancelled: gettext("Cancelled") };
  const connection = document.getElementById("connection");
  let lastSeq = 0, socket = null, retries = 0, finished = false;

  function card(resultId) { return document.getElementById(`result-${resultId}`); }

  function setState(node, state) {
    node.dataset.state = state;
    node.querySelector(".state").textContent = STATES[state] || state;
    node.querySelector(".cancel").hidden = !(state === "queued" || state === "running");
  }

  function setProgress(node, data, time) {
    const percent = Math.floor((data.progress || 0) * 100);
    node.querySelector(".bar").style.width = percent + "%";
    node.querySelector(".progress").setAttribute("aria-valuenow", percent);
    node.querySelector(".percent").textContent = percent + " %";
    node.querySelector(".stage").textContent = STAGES[data.stage] || data.stage || "";
    const counter = data.stage === "speak" ? gettext("sentence %(done)s of %(total)s") : gettext("frame %(done)s of %(total)s");
    node.querySelector(".frames").textContent = data.frames_total
      ? interpolate(counter, { done: data.frames_done, total: data.frames_total }, true) : "";
    const started = node.dataset.started ? Date.parse(node.dataset.started) : null;
    if (started && time) {
      const elapsed = (Date.parse(time) - started) / 1000;
      const left = data.progress > 0.02 ? elapsed * (1 - data.progress) / data.progress : NaN;
      node.querySelector(".times").textContent = "· " + interpolate(gettext("%(elapsed)s elapsed, about %(left)s left"),
        { elapsed: formatSeconds(elapsed), left: formatSeconds(left) }, true);
    }
  }

  async function showOutput(node, resultId) {
    const result = await api("GET", `/api/v1/results/${resultId}/`);
    node.querySelector(".times").textContent = "";
    if (result.download_url && !node.querySelector("video")) {
      node.querySelector(".output").replaceChildren(
        element("video", { controls: true, preload: "metadata", src: result.download_url, poster: result.thumbnail_url }),
        element("a", { href: result.download_url + "?download=1", text: gettext("Download") }));
    }
    if (result.error) {
      const error = node.querySelector(".error");
      error.textContent = result.error.message;
      error.hidden = false;
    }
  }

  // Log lines in the reader's language, built from the event's kind and data; the server's English
  // message is the fallback for kinds this page does not know.
  function describe(event) {
    const data = event.data || {};
    switch (event.kind) {
      case "job.created": return interpolate(gettext("%s video(s) queued"), [(data.results || []).length]);
      case "result.running": return gettext("Started");
      case "result.log": return STAGES[data.stage] || event.message;
      case "result.succeeded":
        // The reason is the engine's own words (why "auto" chose it, or "requested").
        return data.reason ? interpolate(gettext("Finished with the %s engine (%s)"), [data.backend || "?", data.reason])
          : interpolate(gettext("Finished with the %s engine"), [data.backend || "?"]);
      case "result.failed": return gettext("Failed");
      case "result.cancelled": return gettext("Cancelled");
      case "result.requeued": return gettext("The worker stopped responding; queued again");
      case "job.finished": return gettext("All videos are done");
      default: return event.message;
    }
  }

  function log(node, event) {
    if (!node || event.kind === "result.progress") return;
    const text = describe(event);
    if (!text) return;
    const list = node.querySelector(".log");
    list.append(element("li", {}, element("time", { datetime: event.time, text: new Date(event.time).toLocaleTimeString(HeyGem.lang) }), " " + text));
    list.scrollTop = list.scrollHeight;
  }

  function apply(event) {
    if (event.seq <= lastSeq) return;
    lastSeq = event.seq;
    const node = event.result ? card(event.result) : null;
    if (event.kind === "job.created") {
      for (const item of root.querySelectorAll(".result")) log(item, event);
    } else if (event.kind === "job.finished") {
      for (const item of root.querySelectorAll(".result")) log(item, event);
      finished = true;
      connection.textContent = gettext("Finished");
      connection.dataset.state = "finished";
    }
    if (!node) return;
    log(node, event);
    switch (event.kind) {
      case "result.running":
        node.dataset.started = event.time;
        setState(node, "running");
        setProgress(node, { progress: 0, stage: "starting" }, event.time);
        break;
      case "result.progress":
        setState(node, "running");
        setProgress(node, event.data, event.time);
        break;
      case "result.requeued":
        setState(node, "queued");
        setProgress(node, { progress: 0 }, null);
        break;
      case "result.succeeded":
        setState(node, "succeeded");
        setProgress(node, { progress: 1, stage: "done" }, event.time);
        showOutput(node, event.result);
        break;
      case "result.failed":
      case "result.cancelled":
        setState(node, event.kind === "result.failed" ? "failed" : "cancelled");
        showOutput(node, event.result);
        break;
      case "result.deleted":
        node.remove();
        break;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/jobs/${jobId}/?after=${lastSeq}`);
    socket.addEventListener("open", () => {
      retries = 0;
      if (!finished) { connection.textContent = gettext("Live"); connection.dataset.state = "live"; }
    });
    socket.addEventListener("message", (message) => apply(JSON.parse(message.data)));
    socket.addEventListener("close", () => {
      if (finished) return;
      connection.textContent = gettext("Reconnecting…");
      connection.dataset.state = "reconnecting";
      retries += 1;
      setTimeout(connect, Math.min(10000, 500 * 2 ** retries));
    });
  }

  for (const node of root.querySelectorAll(".result")) {
    node.querySelector(".cancel").addEventListener("click", async () => {
      try { await api("POST", `/api/v1/results/${node.dataset.result}/cancel/`); } catch (error) { alert(error.message); }
    });
  }
  document.getElementById("cancel-all").addEventListener("click", async () => {
    try { await api("POST", `/api/v1/jobs/${jobId}/cancel/`); } catch (error) { alert(error.message); }
  });
  // Tests (and curious users) can drop the connection to see the page catch up.
  window.heygemJob = { drop: () => socket && socket.close(), lastSeq: () => lastSeq };
  connect();
})();
