// The player: keyboard shortcuts (←/→ newer/older, Space play/pause, Delete with confirmation) and a
// before/after view that plays the original template beside the result, in step with it.
"use strict";

(() => {
  const player = document.getElementById("player-video");
  const original = document.getElementById("original-video");
  const compare = document.getElementById("compare");
  const toggle = document.getElementById("compare-toggle");

  // Where in the template the result is at `t` seconds: the engine plays the template forwards and
  // backwards ("pingpong"), loops it, or stops at its end ("cut").
  function templateTime(t) {
    const length = Number(player.dataset.templateSeconds);
    if (!(length > 0)) return t;
    if (player.dataset.lengthPolicy === "loop") return t % length;
    if (player.dataset.lengthPolicy === "pingpong") {
      const u = t % (2 * length);
      return u <= length ? u : 2 * length - u;
    }
    return Math.min(t, length);
  }

  function follow() {
    if (compare.hidden || original.readyState < 1) return;
    const target = templateTime(player.currentTime);
    if (Math.abs(original.currentTime - target) > 0.12) original.currentTime = target;
  }

  if (player && original && toggle) {
    const after = document.getElementById("after-slot");
    const home = player.parentElement, next = player.nextSibling;
    toggle.addEventListener("click", () => {
      const open = compare.hidden;
      compare.hidden = !open;
      toggle.setAttribute("aria-pressed", String(open));
      if (open) after.append(player);
      else home.insertBefore(player, next);
      if (open) { original.preload = "auto"; original.load(); }
      else original.pause();
    });
    original.addEventListener("error", () => {
      original.hidden = true;
      original.nextElementSibling.hidden = false;
    });
    // A video shows no picture until it seeks; a hair past 0 paints the first frame.
    original.addEventListener("loadedmetadata", () => { original.currentTime = templateTime(player.currentTime) || 0.001; });
    player.addEventListener("play", () => { if (!compare.hidden) { follow(); original.play().catch(() => {}); } });
    player.addEventListener("pause", () => original.pause());
    player.addEventListener("seeked", follow);
    player.addEventListener("timeupdate", follow);
    player.addEventListener("ratechange", () => { original.playbackRate = player.playbackRate; });
  }

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    const target = event.target;
    if (target.closest("input, select, textarea, button, a, video, [contenteditable]")) return;
    const go = (id) => { const link = document.getElementById(id); if (link) { event.preventDefault(); link.click(); } };
    if (event.key === "ArrowLeft") go("newer");
    else if (event.key === "ArrowRight") go("older");
    else if (event.key === "Delete") {
      event.preventDefault();
      document.getElementById("delete-form").requestSubmit();
    } else if (event.key === " " && player) {
      event.preventDefault();
      if (player.paused) player.play(); else player.pause();
    }
  });
})();
