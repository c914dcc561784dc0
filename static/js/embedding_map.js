// The embedding map: draws the points (or the server's density bins above 200,000 points)
// on a canvas, and a lasso: press, drag around points, release; the polygon goes to the
// server, which saves the points inside as a selection and answers its gallery's URL.
(function () {
  const canvas = document.getElementById("embedding-map");
  if (!canvas) return;
  const ctx = canvas.getContext("2d");
  const status = document.getElementById("map-status");
  const legendBox = document.getElementById("map-legend");
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
    "#65a30d", "#ea580c", "#4f46e5", "#0d9488", "#9333ea"];
  const W = canvas.width, H = canvas.height, PAD = 16;
  const SIDE = Math.min(W, H) - 2 * PAD, X0 = (W - SIDE) / 2, Y0 = PAD;
  let data = null, image = null, lasso = null;

  function colour(code, legend) {
    // The last legend entry is "no label" / "not scored": grey.
    if (code >= legend.length - 1 && legend.length > 2) return "#9ca3af";
    return PALETTE[code % PALETTE.length];
  }
  function decode(b64, Type) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }
  function toCanvas(u, v) { return [X0 + u * SIDE, Y0 + (1 - v) * SIDE]; }
  function toUnit(px, py) { return [(px - X0) / SIDE, 1 - (py - Y0) / SIDE]; }
  function at(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * W / r.width, (e.clientY - r.top) * H / r.height];
  }

  function drawPoints() {
    const x = decode(data.x, Uint16Array), y = decode(data.y, Uint16Array), c = decode(data.c, Uint8Array);
    const size = x.length > 20000 ? 1.5 : x.length > 2000 ? 2.5 : 8;
    ctx.globalAlpha = x.length > 20000 ? 0.5 : 0.85;
    for (let k = 0; k < data.legend.length; k++) {  // one fill colour at a time: fast at 100,000
      ctx.fillStyle = colour(k, data.legend);
      for (let i = 0; i < x.length; i++) {
        if (c[i] !== k) continue;
        const p = toCanvas(x[i] / 65535, y[i] / 65535);
        ctx.fillRect(p[0] - size / 2, p[1] - size / 2, size, size);
      }
    }
    ctx.globalAlpha = 1;
  }
  function drawBins() {
    const counts = decode(data.counts, Uint32Array), top = decode(data.top, Uint8Array), g = data.grid;
    let max = 1;
    for (let i = 0; i < counts.length; i++) max = Math.max(max, counts[i]);
    const cell = SIDE / g;
    for (let row = 0; row < g; row++) {
      for (let col = 0; col < g; col++) {
        const n = counts[row * g + col];
        if (!n) continue;
        ctx.globalAlpha = 0.25 + 0.75 * Math.log(1 + n) / Math.log(1 + max);
        ctx.fillStyle = colour(top[row * g + col], data.legend);
        const p = toCanvas(col / g, (row + 1) / g);
        ctx.fillRect(p[0], p[1], Math.ceil(cell), Math.ceil(cell));
      }
    }
    ctx.globalAlpha = 1;
  }
  function draw() {
    ctx.clearRect(0, 0, W, H);
    if (data.mode === "bins") drawBins(); else drawPoints();
    image = ctx.getImageData(0, 0, W, H);
  }
  function legend() {
    legendBox.textContent = "";
    data.legend.forEach(function (name, k) {
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour(k, data.legend);
      legendBox.appendChild(swatch);
      legendBox.appendChild(document.createTextNode(name));
    });
  }
  function drawLasso() {
    ctx.putImageData(image, 0, 0);
    ctx.strokeStyle = "#111827"; ctx.lineWidth = 1.5; ctx.setLineDash([5, 4]);
    ctx.beginPath();
    lasso.forEach(function (p, i) { if (i) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
    ctx.closePath(); ctx.stroke(); ctx.setLineDash([]);
  }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  function send(polygon) {
    status.textContent = "Selecting…";
    fetch(canvas.dataset.lasso, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ polygon: polygon }),
    }).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.detail || body.error || r.status); return body; });
    }).then(function (body) {
      status.textContent = body.count + " images selected; opening them…";
      window.location.assign(body.url);
    }).catch(function (err) { status.textContent = "Not selected: " + err.message; });
  }

  canvas.addEventListener("mousedown", function (e) {
    if (!data || e.button !== 0) return;
    lasso = [at(e)];
    e.preventDefault();
  });
  canvas.addEventListener("mousemove", function (e) {
    if (!lasso) return;
    lasso.push(at(e));
    drawLasso();
  });
  window.addEventListener("mouseup", function () {
    if (!lasso) return;
    const polygon = lasso.map(function (p) { return toUnit(p[0], p[1]); });
    lasso = null;
    if (polygon.length < 3) { ctx.putImageData(image, 0, 0); return; }
    send(polygon.length > 2000 ? polygon.filter(function (_, i) { return i % Math.ceil(polygon.length / 2000) === 0; }) : polygon);
  });

  fetch(canvas.dataset.points, { headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) throw new Error("the points did not load (" + r.status + ")"); return r.json(); })
    .then(function (body) {
      data = body;
      draw();
      legend();
      status.textContent = body.count.toLocaleString() + " images" + (body.mode === "bins" ? ", drawn as density bins" : "") + ".";
      canvas.dataset.ready = "1";
    })
    .catch(function (err) { status.textContent = err.message; });
})();
