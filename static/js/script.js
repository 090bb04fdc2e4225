// The workspace's "Type a script" voice source: a text with its length and an estimate of its spoken time, a
// voice, a speed, and a preview of the first sentence played in the page. workspace.js asks `HeyGem.script`
// whether it is chosen and ready, and what to send instead of an audio asset.
"use strict";

(() => {
  const root = document.getElementById("workspace");
  const panel = document.getElementById("script-panel");
  if (!root || !panel) return;
  const text = document.getElementById("script-text");
  const voice = document.getElementById("script-voice");
  const speed = document.getElementById("script-speed");
  const speedValue = document.getElementById("script-speed-value");
  const counts = document.getElementById("script-counts");
  const error = document.getElementById("script-error");
  const previewButton = document.getElementById("script-preview");
  const audio = document.getElementById("script-audio");
  const maxSeconds = Number(root.dataset.maxMinutes) * 60;
  // Mirrors inference.voices.estimate_seconds: characters a second at speed 1, and a pause per sentence.
  const RATE = { zh: 4.0, other: 13.0 }, PAUSE = 0.25;
  const HAN = /[\u3400-\u4dbf\u4e00-\u9fff]/gu, LETTER = /\p{L}/gu, WORD = /[\p{L}\p{N}]/u;
  const script = { onchange: null, active, ready, payload };
  HeyGem.script = script;

  function family(value) {
    const letters = (value.match(LETTER) || []).length, han = (value.match(HAN) || []).length;
    return letters && han / letters >= 0.3 ? "zh" : "other";
  }

  function estimate(value) {
    const sentences = value.split(/[.!?;。！？；…]+|\n\s*\n/).filter((part) => WORD.test(part)).length;
    return value.replace(/\s/gu, "").length / (RATE[family(value)] * Number(speed.value)) + Math.max(1, sentences) * PAUSE;
  }

  function voiceFamily() {
    const option = voice.selectedOptions[0];
    return option ? option.dataset.family : "";
  }

  // The browser's own checks; the server makes the same ones and has the last word.
  function problem() {
    const value = text.value;
    if (!WORD.test(value)) return value.trim() ? gettext("The script has no words to speak. Type some text.") : null;
    if (estimate(value) > maxSeconds) {
      return interpolate(gettext("Spoken, this script would be longer than this server allows (%s minutes)."), [maxSeconds / 60]);
    }
    if ((family(value) === "zh") !== (voiceFamily() === "zh")) {
      return gettext("This voice cannot speak the script's language. Choose a voice in the script's language.");
    }
    return null;
  }

  function showError(message) {
    error.textContent = message || "";
    error.hidden = !message;
  }

  function update() {
    const value = text.value;
    counts.textContent = interpolate(gettext("%(chars)s characters · about %(time)s spoken"),
      { chars: [...value].length, time: HeyGem.formatSeconds(WORD.test(value) ? estimate(value) : 0) }, true);
    speedValue.textContent = Number(speed.value).toFixed(2) + "×";
    const message = problem();
    showError(message);
    previewButton.disabled = !WORD.test(value) || Boolean(message);
    if (script.onchange) script.onchange();
  }

  function active() { return root.dataset.voiceSource === "script"; }
  function ready() { return WORD.test(text.value) && !problem(); }
  function payload() { return { text: text.value, voice: voice.value, speed: Number(speed.value) }; }

  async function preview() {
    previewButton.disabled = true;
    const label = previewButton.textContent;
    previewButton.textContent = gettext("Speaking…");
    showError(null);
    try {
      const response = await fetch(panel.dataset.previewUrl, {
        method: "POST", credentials: "same-origin", body: JSON.stringify(payload()),
        headers: { "Content-Type": "application/json", "X-CSRFToken": HeyGem.csrfToken() },
      });
      if (!response.ok) {
        const data = await response.json().catch(() => null);
        showError((data && data.error && data.error.message) || response.statusText);
        return;
      }
      if (audio.src) URL.revokeObjectURL(audio.src);
      audio.src = URL.createObjectURL(await response.blob());
      audio.hidden = false;
      audio.play().catch(() => { /* the controls are there to press */ });
    } catch (failure) {
      showError(gettext("The preview could not be made. Check the connection and try again."));
    } finally {
      previewButton.textContent = label;
      previewButton.disabled = !ready();
    }
  }

  for (const radio of root.querySelectorAll("input[name=voice-source]")) {
    radio.addEventListener("change", () => {
      root.dataset.voiceSource = radio.value;
      panel.hidden = radio.value !== "script";
      update();
    });
  }
  for (const input of [text, voice, speed]) input.addEventListener("input", update);
  voice.addEventListener("change", update);
  previewButton.addEventListener("click", preview);
  root.dataset.voiceSource = "upload";
  update();
})();
