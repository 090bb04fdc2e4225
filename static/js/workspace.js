// The workspace: pick a voice and one or more videos, upload them in resumable chunks, check them,
// then create the job. Nothing is sent until the browser's own checks pass.
"use strict";

(() => {
  const root = document.getElementById("workspace");
  if (!root) return;
  const maxBytes = Number(root.dataset.maxBytes);
  const CHUNK = 8 * 1024 * 1024;
  const AUDIO_EXT = /\.(wav|mp3|m4a|aac|flac|ogg|oga|opus|wma|mp4|mov|mkv|webm)$/i;
  const VIDEO_EXT = /\.(mp4|mov|mkv|webm|avi|flv|m4v|ts|mts)$/i;
  let mode = "single", leaving = false;
  const items = { audio: [], video: [] };  // {file, state: "uploading"|"ready"|"refused", asset, node}
  const generate = document.getElementById("generate");
  const { element, formatBytes, formatSeconds, api } = HeyGem;
  const script = HeyGem.script;  // the "Type a script" voice source (script.js), when the page has one

  // crypto.randomUUID exists only on HTTPS and localhost; a LAN address over HTTP gets the fallback.
  function newKey() {
    return (crypto.randomUUID && crypto.randomUUID()) || Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function setMode(next) {
    mode = next;
    root.dataset.mode = mode;
    for (const tab of root.querySelectorAll("[role=tab]")) tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
    const help = document.getElementById("mode-help");
    help.textContent = help.dataset[mode];
    const input = root.querySelector('input[data-kind="video"]');
    input.multiple = mode === "batch";
    if (mode === "single") while (items.video.length > 1) remove("video", items.video[0]);
    refresh();
  }

  function precheck(kind, file) {
    const typeOk = kind === "audio"
      ? file.type.startsWith("audio/") || file.type.startsWith("video/") || AUDIO_EXT.test(file.name)
      : file.type.startsWith("video/") || VIDEO_EXT.test(file.name);
    if (!typeOk) return kind === "audio" ? gettext("This does not look like an audio file.") : gettext("This does not look like a video file.");
    if (file.size === 0) return gettext("The file is empty.");
    if (file.size > maxBytes) return interpolate(gettext("The file is larger than this server allows (%s)."), [formatBytes(maxBytes)]);
    return null;
  }

  function add(kind, file, asset = null) {
    if (kind === "audio" || mode === "single") for (const old of [...items[kind]]) remove(kind, old);
    const item = { kind, file, state: asset ? "ready" : "uploading", asset };
    item.node = element("li", { class: "file", "data-state": item.state },
      element("div", { class: "file-head" }, element("strong", { text: file.name }), element("span", { class: "muted size", text: formatBytes(file.size) }),
        element("button", { type: "button", class: "link remove", "aria-label": gettext("Remove"), text: "×" })),
      element("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, element("div", { class: "bar" })),
      element("p", { class: "status muted" }), element("p", { class: "error", role: "alert", hidden: true }), element("div", { class: "preview" }));
    item.node.querySelector(".remove").addEventListener("click", () => remove(kind, item));
    root.querySelector(`.slot[data-kind="${kind}"] .files`).append(item.node);
    items[kind].push(item);
    if (asset) {
      item.node.querySelector(".progress").hidden = true;
      showFacts(item);
    } else {
      const problem = precheck(kind, file);
      if (problem) refuse(item, problem);
      else upload(item);
    }
    refresh();
  }

  // A file uploaded before, picked from the library (library.js): ready at once, nothing to send.
  document.addEventListener("heygem:reuse", (event) => {
    const asset = event.detail;
    if (asset.kind === "video" || asset.kind === "audio") {
      const slot = asset.kind;  // A video's sound can be the voice too; the library lists each under its kind.
      add(slot, { name: asset.original_name, size: asset.size }, asset);
    }
  });

  function remove(kind, item) {
    item.cancelled = true;
    // An upload stopped half-way would keep its part on the server for a day: abandon it now.
    if (item.uploadId && item.state === "uploading") api("DELETE", `/api/v1/uploads/${item.uploadId}/`).catch(() => {});
    item.node.remove();
    items[kind] = items[kind].filter((other) => other !== item);
    refresh();
  }

  function refuse(item, message) {
    item.state = "refused";
    item.node.dataset.state = "refused";
    const error = item.node.querySelector(".error");
    error.textContent = message;
    error.hidden = false;
    item.node.querySelector(".status").textContent = "";
    refresh();
  }

  async function upload(item) {
    const { file } = item;
    const status = item.node.querySelector(".status");
    const bar = item.node.querySelector(".bar");
    const progress = item.node.querySelector(".progress");
    let upload;
    try {
      upload = await api("POST", "/api/v1/uploads/", { name: file.name, size: file.size });
    } catch (error) {
      return refuse(item, error.message);
    }
    item.uploadId = upload.id;
    if (item.cancelled) return api("DELETE", `/api/v1/uploads/${upload.id}/`).catch(() => {});
    const started = performance.now();
    let offset = upload.received, failures = 0;
    while (offset < file.size && !item.cancelled) {
      const chunk = file.slice(offset, Math.min(offset + CHUNK, file.size));
      try {
        const answer = await api("PUT", `/api/v1/uploads/${upload.id}/`, chunk, {
          "Content-Type": "application/octet-stream",
          "Content-Range": `bytes ${offset}-${offset + chunk.size - 1}/${file.size}`,
        });
        offset = answer.received;
        failures = 0;
      } catch (error) {
        if (error.status === 409 && error.body) { offset = error.body.received; continue; }
        if (error.status && error.status !== 0 && error.status < 500) return refuse(item, error.message);
        // A dropped connection: wait, ask the server how much arrived, and go on from there.
        failures += 1;
        status.textContent = gettext("The connection was lost. Retrying…");
        await new Promise((resolve) => setTimeout(resolve, Math.min(30000, 1000 * 2 ** failures)));
        try { offset = (await api("GET", `/api/v1/uploads/${upload.id}/`)).received; } catch (ignored) { /* retry */ }
        continue;
      }
      const seconds = (performance.now() - started) / 1000;
      const speed = offset / Math.max(seconds, 0.001);
      const percent = Math.floor((offset / file.size) * 100);
      bar.style.width = percent + "%";
      progress.setAttribute("aria-valuenow", percent);
      // Django's interpolate() leaves "%%" as it is, so the percent sign travels in the value.
      status.textContent = interpolate(gettext("%(percent)s · %(speed)s/s · %(left)s left"),
        { percent: percent + "%", speed: formatBytes(speed), left: formatSeconds((file.size - offset) / speed) }, true);
    }
    if (item.cancelled) return;
    status.textContent = gettext("Checking the file…");
    try {
      item.asset = await api("POST", `/api/v1/uploads/${upload.id}/complete/`, { kind: item.kind });
    } catch (error) {
      return refuse(item, error.message);
    }
    item.state = "ready";
    item.node.dataset.state = "ready";
    progress.hidden = true;
    showFacts(item);
    refresh();
  }

  function showFacts(item) {
    const asset = item.asset;
    const facts = [formatSeconds(asset.duration_s)];
    if (asset.width) facts.push(`${asset.width}×${asset.height}`);
    if (asset.fps) facts.push(interpolate(gettext("%s fps"), [Math.round(asset.fps * 100) / 100]));
    facts.push(formatBytes(asset.size));
    item.node.querySelector(".status").textContent = facts.join(" · ");
    const player = asset.kind === "video" ? element("video", { controls: true, preload: "metadata", src: asset.url })
                                          : element("audio", { controls: true, preload: "metadata", src: asset.url });
    // Browsers decode few codecs (no MPEG-4 Part 2, no HEVC in most): say so instead of a black box.
    const cannotPreview = () => player.replaceWith(element("p", { class: "muted note",
      text: gettext("This browser cannot preview this format. HeyGem reads it anyway.") }));
    player.addEventListener("error", cannotPreview);
    // With a playable sound track but an unknown picture codec, the browser plays sound over black.
    player.addEventListener("loadedmetadata", () => { if (asset.kind === "video" && player.videoWidth === 0) cannotPreview(); });
    item.node.querySelector(".preview").replaceChildren(player);
  }

  function refresh() {
    const ready = (kind) => items[kind].length > 0 && items[kind].every((item) => item.state === "ready");
    const voiceReady = script && script.active() ? script.ready() : ready("audio");
    generate.disabled = !(voiceReady && ready("video"));
  }

  for (const tab of root.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => setMode(tab.dataset.mode));
  for (const input of root.querySelectorAll("input[type=file]")) {
    input.addEventListener("change", () => { for (const file of input.files) add(input.dataset.kind, file); input.value = ""; });
  }
  for (const drop of root.querySelectorAll(".drop")) {
    const input = drop.querySelector("input");
    drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); } });
    drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      const files = [...event.dataTransfer.files];
      for (const file of input.dataset.kind === "video" && mode === "batch" ? files : files.slice(0, 1)) add(input.dataset.kind, file);
    });
  }

  generate.addEventListener("click", async () => {
    generate.disabled = true;
    const error = document.getElementById("generate-error");
    error.hidden = true;
    try {
      // A script's sounds are known exactly: the language of an uploaded voice is asked for that voice only.
      const voice = script && script.active() ? script.payload()
        : { audio: items.audio[0].asset.id, speech_language: document.getElementById("speech_language").value };
      const job = await api("POST", "/api/v1/jobs/", {
        ...voice, videos: items.video.map((item) => item.asset.id),
        length_policy: document.getElementById("length_policy").value, quality: document.getElementById("quality").value,
      }, { "Idempotency-Key": root.dataset.idempotencyKey || (root.dataset.idempotencyKey = newKey()) });
      leaving = true;
      window.location.href = `/jobs/${job.id}/`;
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      delete root.dataset.idempotencyKey;
      refresh();
    }
  });

  if (script) script.onchange = refresh;
  // Leaving while a file is still on its way would lose it: the browser asks first.
  window.addEventListener("beforeunload", (event) => {
    if (leaving) return;
    if ([...items.audio, ...items.video].some((item) => item.state === "uploading")) event.preventDefault();
  });

  setMode("single");
})();
