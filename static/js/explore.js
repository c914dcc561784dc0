// The Explore sidebar of the dataset gallery: "Select all on page" ticks every tile's box,
// for tagging the selection. The filters themselves are a plain GET form (htmx swaps them).
(function () {
  document.addEventListener("click", function (e) {
    if (!e.target.matches("[data-explore-select-all]")) return;
    document.querySelectorAll("#gallery-page .tile-cell .pick input").forEach(function (c) { c.checked = true; });
  });
})();
