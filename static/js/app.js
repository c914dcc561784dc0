// Keyboard use for galleries: j/k or arrows move between tiles, Enter opens, g g returns to top.
// On an image page, number keys pick a label for the first attribute the user can change.
(function () {
  function tiles() { return Array.from(document.querySelectorAll(".grid .tile")); }
  function typing(e) { const t = e.target; return t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA"); }
  document.addEventListener("keydown", function (e) {
    if (typing(e) || e.metaKey || e.ctrlKey || e.altKey) return;
    const all = tiles();
    if (all.length) {
      const i = all.indexOf(document.activeElement);
      let next = null;
      if (e.key === "j" || e.key === "ArrowRight") next = all[Math.min(i + 1, all.length - 1)];
      if (e.key === "k" || e.key === "ArrowLeft") next = all[Math.max(i - 1, 0)];
      if (next) { next.focus(); next.scrollIntoView({ block: "nearest" }); e.preventDefault(); return; }
    }
    const picker = document.querySelector("form.labelform[data-hotkeys] select");
    if (picker && /^[1-9]$/.test(e.key)) {
      const option = picker.options[Number(e.key)];  // options[0] is "no label"
      if (option) { picker.value = option.value; picker.form.requestSubmit(); e.preventDefault(); }
    }
  });
})();

// A refused edit (409: someone changed the label first) carries a message meant for the page:
// htmx leaves 4xx responses out by default, so let this one swap in.
document.addEventListener("htmx:beforeSwap", function (e) {
  if (e.detail.xhr.status === 409) { e.detail.shouldSwap = true; e.detail.isError = false; }
});
