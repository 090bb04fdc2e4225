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
  const cancelAll = document.getElementById("cancel-all");
  const zipAll = document.getElementById("zip-job");
  const pace = JSON.parse(document.getElementById("stage-pace").textContent);
  // The event kinds, as jobs/events.py names them (rendered by the view): no kind is spelled here.
  const KIND = JSON.parse(document.getElementById("event-kinds").textContent);
  const etas = {};
  // A socket can go silent without closing (a stalled proxy, a frozen host): the page pings every
  // PING_MS and treats a ping unanswered for STALL_MS, or a connection not open after STALL_MS, as
  // lost. Only an unanswered ping counts, so a background tab whose timers the browser slows down
  // is not taken for a dead connection.
  const PING_MS = 5000, STALL_MS = 9000;
  let lastSeq = 0, socket = null, retries = 0, finished = false, opening = 0, awaiting = 0;

  function card(resultId) { return document.getElementById(`result-${resultId}`); }

  function setState(node, state) {
    node.dataset.state = state;
    node.querySelector(".state").textContent = STATES[state] || state;
    node.querySelector(".cancel").hidden = !(state === "queued" || state === "running");
    const queue = node.querySelector(".queue");
    if (queue && state !== "queued") queue.hidden = true;  // Its place in line was true at page load only.
    // The job's buttons follow its videos: nothing to cancel once all ended, a ZIP once one succeeded.
    const states = [...root.querySelectorAll(".result")].map((item) => item.dataset.state);
    cancelAll.hidden = !states.some((value) => value === "queued" || value === "running");
    zipAll.hidden = !states.includes("succeeded");
  }

  function estimator(node) {
    const id = node.dataset.result;
    etas[id] = etas[id] || HeyGemEta.create(pace, { template: Number(node.dataset.templateFrames) || 1,
                                                    output: Number(node.dataset.outputFrames) || 1 });
    return etas[id];
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
    if (started && time && data.stage && data.stage !== "done") {
      const elapsed = (Date.parse(time) - started) / 1000;
      const left = estimator(node).update(data, Date.parse(time) / 1000);
      node.querySelector(".times").textContent = "· " + (isFinite(left)
        ? interpolate(gettext("%(elapsed)s elapsed, about %(left)s left"), { elapsed: formatSeconds(elapsed), left: formatSeconds(left) }, true)
        : interpolate(gettext("%(elapsed)s elapsed"), { elapsed: formatSeconds(elapsed) }, true));
      node.dataset.secondsLeft = isFinite(left) ? Math.round(left) : "";
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
      case KIND.JOB_CREATED: return interpolate(gettext("%s video(s) queued"), [(data.results || []).length]);
      case KIND.RESULT_RUNNING: return gettext("Started");
      case KIND.RESULT_LOG: return STAGES[data.stage] || event.message;
      case KIND.RESULT_SUCCEEDED:
        // The reason is the engine's own words (why "auto" chose it, or "requested").
        return data.reason ? interpolate(gettext("Finished with the %s engine (%s)"), [data.backend || "?", data.reason])
          : interpolate(gettext("Finished with the %s engine"), [data.backend || "?"]);
      case KIND.RESULT_FAILED: return gettext("Failed");
      case KIND.RESULT_CANCELLED: return gettext("Cancelled");
      case KIND.RESULT_REQUEUED: return data.reason === "retry" ? gettext("Queued again") : gettext("The worker stopped responding; queued again");
      case KIND.JOB_FINISHED: return gettext("All videos are done");
      default: return event.message;
    }
  }

  function log(node, event) {
    if (!node || event.kind === KIND.RESULT_PROGRESS) return;
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
    if (event.kind === KIND.JOB_CREATED) {
      for (const item of root.querySelectorAll(".result")) log(item, event);
    } else if (event.kind === KIND.JOB_FINISHED) {
      for (const item of root.querySelectorAll(".result")) log(item, event);
      finished = true;
      connection.textContent = gettext("Finished");
      connection.dataset.state = "finished";
      cancelAll.hidden = true;
    }
    if (!node) return;
    log(node, event);
    switch (event.kind) {
      case KIND.RESULT_RUNNING:
        node.dataset.started = event.time;
        setState(node, "running");
        setProgress(node, { progress: 0, stage: "starting" }, event.time);
        break;
      case KIND.RESULT_PROGRESS:
        setState(node, "running");
        setProgress(node, event.data, event.time);
        break;
      case KIND.RESULT_REQUEUED:
        finished = false;  // A retried video reopens a finished job.
        showLive();
        delete etas[node.dataset.result];
        setState(node, "queued");
        setProgress(node, { progress: 0 }, null);
        break;
      case KIND.RESULT_SUCCEEDED:
        setState(node, "succeeded");
        setProgress(node, { progress: 1, stage: "done" }, event.time);
        showOutput(node, event.result);
        break;
      case KIND.RESULT_FAILED:
      case KIND.RESULT_CANCELLED:
        setState(node, event.kind === KIND.RESULT_FAILED ? "failed" : "cancelled");
        showOutput(node, event.result);
        break;
      case KIND.RESULT_DELETED:
        node.remove();
        break;
    }
  }

  function showLive() {
    if (!finished) { connection.textContent = gettext("Live"); connection.dataset.state = "live"; }
  }

  function showReconnecting() {
    connection.textContent = gettext("Reconnecting…");
    connection.dataset.state = "reconnecting";
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/jobs/${jobId}/?after=${lastSeq}`);
    socket = ws;
    opening = Date.now();
    awaiting = 0;
    // Each handler ignores a socket the page has given up on.
    ws.addEventListener("open", () => {
      if (ws !== socket) return;
      retries = 0;
      opening = 0;
      showLive();
    });
    ws.addEventListener("message", (message) => {
      if (ws !== socket) return;
      awaiting = 0;  // Any word from the server answers the ping.
      const event = JSON.parse(message.data);
      if (event.kind === KIND.PONG) showLive();
      else apply(event);
    });
    ws.addEventListener("close", () => {
      if (ws !== socket || finished) return;
      showReconnecting();
      retries += 1;
      setTimeout(() => { if (ws === socket) connect(); }, Math.min(10000, 500 * 2 ** retries));
    });
  }

  setInterval(() => {
    if (finished || !socket) return;
    const now = Date.now();
    const stalled = (awaiting && now - awaiting >= STALL_MS) ||
                    (opening && socket.readyState === WebSocket.CONNECTING && now - opening >= STALL_MS);
    if (stalled) {
      showReconnecting();
      const old = socket;
      connect();  // Replaces `socket` first, so the stalled one's late events are ignored.
      old.close();
    } else if (socket.readyState === WebSocket.OPEN && !awaiting) {
      socket.send(JSON.stringify({ type: "ping" }));
      awaiting = now;
    }
  }, PING_MS);

  for (const node of root.querySelectorAll(".result")) {
    node.querySelector(".cancel").addEventListener("click", async () => {
      try { await api("POST", `/api/v1/results/${node.dataset.result}/cancel/`); } catch (error) { alert(error.message); }
    });
  }
  cancelAll.addEventListener("click", async () => {
    try { await api("POST", `/api/v1/jobs/${jobId}/cancel/`); } catch (error) { alert(error.message); }
  });
  // Tests (and curious users) can drop the connection to see the page catch up.
  window.heygemJob = { drop: () => socket && socket.close(), lastSeq: () => lastSeq };
  connect();
})();
