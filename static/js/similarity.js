// Similar-dress tools. Box editor: drag on the image to draw the dress's box (saved as
// fractions of the image), Enter saves, Esc clears. Triplet page: a or 1 / b or 2 picks the
// candidate closer to the reference, s skips.
(function () {
  function typing(e) { const t = e.target; return t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA"); }
  function clamp(v) { return Math.min(1, Math.max(0, v)); }

  const stage = document.querySelector("[data-box-stage]");
  const form = document.getElementById("box-form");
  if (stage && form) {
    const img = stage.querySelector("img");
    const drawn = stage.querySelector(".box.drawn");
    const inputs = ["x0", "y0", "x1", "y1"].map(function (n) { return form.elements[n]; });
    let start = null;

    function at(e) {
      const r = img.getBoundingClientRect();
      return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
    }
    function show(b) {
      drawn.hidden = false;
      drawn.style.left = b[0] * 100 + "%"; drawn.style.top = b[1] * 100 + "%";
      drawn.style.width = (b[2] - b[0]) * 100 + "%"; drawn.style.height = (b[3] - b[1]) * 100 + "%";
    }
    function set(p, q) {
      const b = [Math.min(p[0], q[0]), Math.min(p[1], q[1]), Math.max(p[0], q[0]), Math.max(p[1], q[1])];
      inputs.forEach(function (input, i) { input.value = b[i].toFixed(4); });
      show(b);
    }
    stage.addEventListener("mousedown", function (e) {
      if (e.button !== 0) return;
      start = at(e);
      e.preventDefault();
    });
    window.addEventListener("mousemove", function (e) { if (start) set(start, at(e)); });
    window.addEventListener("mouseup", function (e) { if (start) { set(start, at(e)); start = null; } });
    // The saved box: data-box="x0,y0,x1,y1" in fractions, placed here (no inline style: CSP).
    const saved = stage.querySelector(".box.current[data-box]");
    if (saved) {
      const c = saved.dataset.box.split(",").map(parseFloat);
      if (c.length === 4 && c.every(isFinite)) {
        saved.style.left = c[0] * 100 + "%"; saved.style.top = c[1] * 100 + "%";
        saved.style.width = (c[2] - c[0]) * 100 + "%"; saved.style.height = (c[3] - c[1]) * 100 + "%";
      }
    }
    inputs.forEach(function (input) {
      input.addEventListener("input", function () {
        const b = inputs.map(function (i) { return parseFloat(i.value); });
        if (b.every(isFinite) && b[2] > b[0] && b[3] > b[1]) show(b);
      });
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        inputs.forEach(function (input) { input.value = ""; });
        drawn.hidden = true;
        start = null;
        e.preventDefault();
      } else if (e.key === "Enter" && !typing(e)) {
        form.requestSubmit();
        e.preventDefault();
      }
    });
  }

  document.addEventListener("keydown", function (e) {
    if (typing(e) || e.metaKey || e.ctrlKey || e.altKey) return;
    const question = document.querySelector("#question form.triplet");
    if (!question) return;
    const value = { a: "a", 1: "a", b: "b", 2: "b", s: "skip" }[e.key];
    if (!value) return;
    e.preventDefault();
    // The question just answered may still be swapping in: click once htmx owns the new one.
    window.labelqa.whenSettled(question.closest("#question") || question, function (q) {
      const form = q.matches("form") ? q : q.querySelector("form.triplet");
      const button = form && form.querySelector('button[name="choice"][value="' + value + '"]');
      if (button) button.click();
    });
  });
})();
