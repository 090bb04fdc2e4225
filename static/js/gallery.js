// The gallery: select videos, then download them as one ZIP or delete them together.
"use strict";

(() => {
  const grid = document.getElementById("gallery");
  if (!grid) return;
  const picks = () => [...grid.querySelectorAll(".pick")];
  const chosen = () => picks().filter((box) => box.checked);
  const zipButton = document.getElementById("bulk-zip");
  const deleteButton = document.getElementById("bulk-delete");
  const all = document.getElementById("select-all");
  const count = document.getElementById("selected-count");

  function refresh() {
    const selected = chosen();
    count.textContent = selected.length ? interpolate(count.dataset.template, [selected.length]) : "";
    deleteButton.disabled = selected.length === 0;
    zipButton.disabled = !selected.some((box) => !box.hasAttribute("data-no-zip"));
    all.checked = selected.length > 0 && selected.length === picks().length;
    all.indeterminate = selected.length > 0 && selected.length < picks().length;
  }

  all.addEventListener("change", () => { for (const box of picks()) box.checked = all.checked; refresh(); });
  grid.addEventListener("change", refresh);
  zipButton.addEventListener("click", () => {
    const ids = chosen().filter((box) => !box.hasAttribute("data-no-zip")).map((box) => box.value);
    window.location.href = `/api/v1/results/zip/?ids=${ids.join(",")}`;
  });
  deleteButton.addEventListener("click", async () => {
    if (!confirm(deleteButton.dataset.confirm)) return;
    try {
      await HeyGem.api("POST", "/api/v1/results/bulk-delete/", { ids: chosen().map((box) => Number(box.value)) });
      window.location.reload();
    } catch (error) {
      alert(error.message);
    }
  });
  refresh();
})();
