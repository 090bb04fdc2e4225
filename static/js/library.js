// The workspace's library: a voice or a video uploaded before is used again without uploading it.
// The picked file's facts come from the page (#library-assets); workspace.js adds it as ready.
"use strict";

(() => {
  const data = document.getElementById("library-assets");
  if (!data) return;
  const assets = JSON.parse(data.textContent);
  document.addEventListener("click", (event) => {
    const button = event.target.closest(".library .reuse");
    if (!button) return;
    const asset = assets[button.dataset.asset];
    if (!asset) return;
    document.dispatchEvent(new CustomEvent("heygem:reuse", { detail: asset }));
    button.closest("details").open = false;
  });
})();
