// Keyboard use. Galleries: j/k or arrows move between tiles, Enter opens one; ? lists every
// key of the page. QA gallery tiles: number keys pick a label (0 is the tenth) and a accepts
// the prediction, each moving on to the next tile; x selects, u undoes your last change on
// the page. Back from an image page focuses the tile it was opened from (or reached by its
// previous / next). Review cards: g keeps the given label, s takes the suggestion, number
// keys vote for a label. Image page: [ and ] choose the attribute, number keys pick its
// label; from a gallery, j/k or arrows go to the next / previous image and b back.
// New arrivals: a or Enter accepts the suggestion (of the selected tiles, when some are
// selected), number keys give a label by hand, x selects, u undoes the last action.
(function () {
  const undo = [];  // [event id, tile id] of this page's changes, newest last
  let arrivalAt = -1;  // the new-arrivals tile acted on: its place gets the focus after the swap

  // A tile that htmx is still swapping in has no htmx handlers yet: a submit now would be a
  // plain page post. Wait for the swap to settle, then act.
  function whenSettled(el, action) {
    if (el.closest(".htmx-swapping, .htmx-settling, .htmx-added")) {
      setTimeout(function () { whenSettled(document.getElementById(el.id) || el, action); }, 25);
      return;
    }
    action(el);
  }
  window.labelqa = { whenSettled: whenSettled };  // similarity.js waits the same way

  function tiles() { return Array.from(document.querySelectorAll(".grid .tile")); }
  function focusTile(tile, block) { tile.focus(); tile.scrollIntoView({ block: block || "nearest" }); }

  // Focus `index` of the tiles once it exists: the next page is loaded (the "more" tile) when
  // the index is past the loaded ones. seek: a tile id to find, loading pages up to a bound.
  let pending = null;  // {index} or {id, pages}: what to focus after the next swap
  function focusWhenLoaded(want) {
    const all = tiles();
    const found = want.id ? document.getElementById(want.id) : all[want.index];
    if (found && !found.matches("#more")) { pending = null; focusTile(found, want.id ? "center" : "nearest"); return; }
    const more = document.getElementById("more");
    if (!more || (want.id && want.pages <= 0)) { pending = null; return; }
    pending = want.id ? { id: want.id, pages: want.pages - 1 } : want;
    if (!more.classList.contains("htmx-request")) whenSettled(more, function (m) { m.click(); });
  }
  function moveOn(current) {
    const all = tiles().filter(function (t) { return !t.matches("#more"); });
    focusWhenLoaded({ index: all.indexOf(current) + 1 });
  }

  // Selected tiles (x, a click on "select", select all): a ring and a check mark, aria-selected.
  const selected = new Set();
  function markSelected(tile, on) {
    const box = tile.querySelector(".pick input");
    if (box) box.checked = on;
    tile.classList.toggle("selected", on);
    tile.setAttribute("aria-selected", on ? "true" : "false");
    if (on) selected.add(tile.id); else selected.delete(tile.id);
  }
  function toggleSelected(tile) {
    const box = tile.querySelector(".pick input");
    if (!box) return false;
    markSelected(tile, !box.checked);
    return true;
  }

  // The gallery's "n of N" follows the focused tile, and the tile is remembered for Back.
  const FOCUS_KEY = "labelqa:gallery-focus";
  function remember(record) { try { sessionStorage.setItem(FOCUS_KEY, JSON.stringify(record)); } catch (err) { /* private mode */ } }
  function remembered() { try { return JSON.parse(sessionStorage.getItem(FOCUS_KEY) || "null"); } catch (err) { return null; } }
  document.addEventListener("focusin", function (e) {
    const tile = e.target.closest && e.target.closest("#gallery-page .tile.qa");
    if (!tile) return;
    const status = document.getElementById("gallery-position");
    if (status && tile.dataset.position) {
      status.textContent = Number(tile.dataset.position).toLocaleString("en-US") + " of " +
        Number(status.dataset.total).toLocaleString("en-US");
    }
    remember({ page: location.pathname + location.search, tile: tile.id });
  });
  function restoreFocus(e) {
    const nav = document.getElementById("image-nav");
    if (nav) {  // an image page reached from a gallery: Back there focuses this image's tile
      const record = remembered();
      if (record) remember({ page: record.page, tile: "tile-" + nav.dataset.image });
      return;
    }
    if (!document.getElementById("gallery-page")) return;
    let id = location.hash.indexOf("#tile-") === 0 ? location.hash.slice(1) : null;
    if (!id) {
      const entry = performance.getEntriesByType("navigation")[0];
      const back = (e && e.persisted) || (entry && entry.type === "back_forward");
      const record = remembered();
      if (back && record && record.page === location.pathname + location.search) id = record.tile;
    }
    if (id) focusWhenLoaded({ id: id, pages: 40 });
  }
  if (document.getElementById("gallery-page") && "scrollRestoration" in history) history.scrollRestoration = "manual";
  window.addEventListener("pageshow", restoreFocus);

  // The ? list of every key: a <dialog id="keys-help"> on the page.
  function toggleHelp() {
    const help = document.getElementById("keys-help");
    if (!help) return false;
    if (help.open) help.close(); else help.showModal();
    return true;
  }

  // Image page: which attribute the number keys label ([ and ] move it; focusing a row's
  // picker picks that row). Kept by name, since a relabel swaps the table in anew.
  let activeAttribute = null;
  function attributeRows() { return Array.from(document.querySelectorAll("tr.attribute-row")); }
  function markActive() {
    const rows = attributeRows();
    if (!rows.length) return null;
    if (activeAttribute === null) {
      const start = document.getElementById("labels-and-history");
      activeAttribute = (start && start.dataset.attribute) || rows[0].dataset.attribute;
    }
    let active = rows.find(function (r) { return r.dataset.attribute === activeAttribute; }) || rows[0];
    rows.forEach(function (r) {
      r.classList.toggle("active", r === active);
      if (r === active) r.setAttribute("aria-current", "true"); else r.removeAttribute("aria-current");
    });
    activeAttribute = active.dataset.attribute;
    return active;
  }
  document.addEventListener("DOMContentLoaded", markActive);
  document.addEventListener("focusin", function (e) {
    const row = e.target.closest && e.target.closest("tr.attribute-row");
    if (row) { activeAttribute = row.dataset.attribute; markActive(); }
  });
  function typing(e) { const t = e.target; return t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA"); }
  // Number keys 1-9 pick the first nine labels and 0 the tenth (ten-class catalogs such as
  // Fashion-MNIST); 0 when no key is a label key.
  function labelKey(e) { return /^[0-9]$/.test(e.key) ? (Number(e.key) || 10) : 0; }
  function pickOption(select, n, offset) {
    const option = select.options[n - 1 + offset];
    if (!option) return false;
    select.value = option.value;
    select.form.requestSubmit();
    return true;
  }

  document.addEventListener("keydown", function (e) {
    // Esc in a tile's reason field goes back to the tile, whose keys then send the reason along.
    if (e.key === "Escape" && e.target.matches && e.target.matches(".tile input.reason")) {
      e.target.closest(".tile").focus();
      e.preventDefault();
      return;
    }
    if (typing(e) || e.metaKey || e.ctrlKey || e.altKey) return;
    const help = document.getElementById("keys-help");
    if (e.key === "?") { if (toggleHelp()) e.preventDefault(); return; }
    if (help && help.open) return;  // the list is up: Esc (the dialog's own) or ? closes it
    const nav = document.getElementById("image-nav");
    if (nav) {
      const go = { j: "image-next", ArrowRight: "image-next", k: "image-previous", ArrowLeft: "image-previous", b: "image-back" }[e.key];
      const link = go && document.getElementById(go);
      if (link) { e.preventDefault(); window.location = link.href; return; }
    }
    const all = tiles();
    const current = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".tile") : null;
    if (all.length) {
      const i = all.indexOf(current);
      let next = null;
      if (e.key === "j" || e.key === "ArrowRight") {
        if (current && current.classList.contains("qa")) { moveOn(current); e.preventDefault(); return; }
        next = all[Math.min(i + 1, all.length - 1)];
      }
      if (e.key === "k" || e.key === "ArrowLeft") next = all[Math.max(i - 1, 0)];
      if (next) { focusTile(next); e.preventDefault(); return; }
    }
    const undoBatch = document.querySelector("#arrivals [data-undo-batch]");
    if (e.key === "u" && !undo.length && undoBatch) {
      arrivalAt = Math.max(all.indexOf(current), 0);
      e.preventDefault();
      // Just swapped in, the banner's form may not have its htmx handler yet: wait for it.
      whenSettled(undoBatch, function (b) { b.click(); });
      return;
    }
    if (current && current.classList.contains("arrival")) {
      const form = current.querySelector("form.tileform");
      if (!form) {
        if (e.key === "Enter" && current.dataset.href) window.location = current.dataset.href;
        return;
      }
      if (form.classList.contains("htmx-request")) { e.preventDefault(); return; }  // sent already
      if (e.key === "a" || e.key === "Enter") {
        e.preventDefault();
        const bulk = document.getElementById("arrivals-bulk");
        if (bulk && document.querySelector('.tile .pick input:checked')) {
          bulk.requestSubmit(bulk.querySelector('button[value="selected"]'));
          return;
        }
        arrivalAt = all.indexOf(current);
        whenSettled(current, function (tile) { const b = tile.querySelector("button.accept"); if (b) b.click(); });
        return;
      }
      if (labelKey(e)) {
        const ids = (current.closest("[data-labels]").dataset.labels || "").split(",");
        const id = ids[labelKey(e) - 1];
        if (id) {
          e.preventDefault();
          arrivalAt = all.indexOf(current);
          whenSettled(current, function (tile) {
            const f = tile.querySelector("form.tileform");
            f.elements.label.value = id;
            f.requestSubmit();
          });
        }
        return;
      }
      if (e.key === "x" && toggleSelected(current)) e.preventDefault();
      return;
    }
    if (e.key === "u" && undo.length) {
      const [eventId, tileId] = undo.pop();
      const tile = document.getElementById(tileId);
      if (tile) {
        htmx.ajax("POST", "/history/" + eventId + "/undo/", {
          source: tile, target: tile, swap: "outerHTML",
          values: { attribute: tile.dataset.attribute, run: tile.dataset.run, position: tile.dataset.position },
        }).then(function () { const t = document.getElementById(tileId); if (t) t.focus(); });
        e.preventDefault();
      }
      return;
    }
    if (current && current.classList.contains("qa")) {
      const form = current.querySelector("form.tileform");
      if (e.key === "Enter" && current.dataset.href) { window.location = current.dataset.href; return; }
      if (!form) return;
      if (labelKey(e)) {
        // The page lists its labels in order; the tile's form sends the chosen one, and the
        // focus moves on at once (the next key needs no wait for this tile's answer).
        const ids = (document.getElementById("gallery-page").dataset.labels || "").split(",");
        const id = ids[labelKey(e) - 1];
        if (id) {
          e.preventDefault();
          moveOn(current);
          whenSettled(current, function (tile) {
            const f = tile.querySelector("form.tileform");
            f.querySelector('input[name="label"]').value = id;
            f.requestSubmit();
          });
        }
        return;
      }
      if (e.key === "a") {
        if (form.querySelector("button.accept")) {
          e.preventDefault();
          moveOn(current);
          whenSettled(current, function (tile) { const b = tile.querySelector("button.accept"); if (b) b.click(); });
        }
        return;
      }
      if (e.key === "x" && toggleSelected(current)) e.preventDefault();
      return;
    }
    if (current && current.classList.contains("review")) {
      const form = current.querySelector("form.voteform");
      if (!form) return;
      if (e.key === "g" || e.key === "s") {
        const b = form.querySelector('button[data-key="' + e.key + '"]');
        if (b) { b.click(); e.preventDefault(); }
        return;
      }
      if (labelKey(e) && pickOption(form.querySelector("select"), labelKey(e), 0)) e.preventDefault();
      return;
    }
    const rows = attributeRows();
    if (rows.length && (e.key === "[" || e.key === "]")) {
      const at = rows.indexOf(markActive());
      const to = rows[(at + (e.key === "]" ? 1 : rows.length - 1)) % rows.length];
      activeAttribute = to.dataset.attribute;
      markActive();
      e.preventDefault();
      return;
    }
    const active = rows.length ? markActive() : null;
    const picker = active && active.querySelector("form.labelform[data-hotkeys] select");
    if (picker && labelKey(e)) {
      if (pickOption(picker, labelKey(e), 1)) e.preventDefault();  // options[0] is "no label"
    }
  });

  // Remember each saved change so `u` can undo it, and keep the keyboard focus on the tile.
  document.addEventListener("htmx:afterSwap", function (e) {
    const queue = document.getElementById("arrivals");
    if (queue && arrivalAt >= 0 && e.detail.target && e.detail.target.id === "arrivals") {
      // The acted-on tile has left the queue: the one now in its place is the next.
      const left = Array.from(queue.querySelectorAll(".tile"));
      const next = left[Math.min(arrivalAt, left.length - 1)];
      arrivalAt = -1;
      if (next) next.focus();
      return;
    }
    if (document.getElementById("labels-and-history")) markActive();
    if (pending) focusWhenLoaded(pending);  // a page of tiles came in: focus the one asked for
    const tile = e.detail.target && document.getElementById(e.detail.target.id);
    const el = tile || e.detail.elt;
    if (!el || !el.classList || !el.classList.contains("tile")) return;
    if (el.dataset.event) undo.push([el.dataset.event, el.id]);
    if (selected.has(el.id)) markSelected(el, true);
    // The focus stays where the keys moved it; only a tile that had it gets it back.
    if (!document.activeElement || document.activeElement === document.body) el.focus();
  });

  document.addEventListener("click", function (e) {
    if (e.target.matches("[data-select-all]")) {
      document.querySelectorAll(".tile .pick input").forEach(function (c) { markSelected(c.closest(".tile"), true); });
    }
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches(".tile .pick input")) markSelected(e.target.closest(".tile"), e.target.checked);
  });
})();

// A refused edit (409: someone changed the label first; 422: a reason it can't keep) carries
// a message meant for the page: htmx leaves 4xx responses out by default, so let these swap in.
document.addEventListener("htmx:beforeSwap", function (e) {
  const status = e.detail.xhr.status;
  if (status === 409 || status === 422) { e.detail.shouldSwap = true; e.detail.isError = false; }
});

// Retrain form: picking an architecture fills in its default epochs, image size, weights
// and folds (the server applies the rest of that architecture's recipe).
document.addEventListener("change", function (e) {
  const select = e.target;
  if (!select || select.name !== "arch" || !select.form || !select.form.dataset.archDefaults) return;
  const source = document.getElementById(select.form.dataset.archDefaults);
  const defaults = source ? JSON.parse(source.textContent)[select.value] : null;
  if (!defaults) return;
  Object.keys(defaults).forEach(function (name) {
    const field = select.form.elements[name];
    if (!field) return;
    if (field.type === "checkbox") field.checked = Boolean(defaults[name]);
    else field.value = defaults[name];
  });
});

// The Content-Security-Policy (style-src 'self') refuses style attributes in the markup, so
// data-driven sizes come as data attributes and are set here, through the CSSOM, which the
// policy allows: data-width="<percent>" (progress and share bars), data-width-px="<px>".
// Runs on the page and on every piece htmx swaps in.
function applySizes(root) {
  root.querySelectorAll("[data-width]").forEach(function (el) {
    const v = parseFloat(el.dataset.width);
    if (isFinite(v)) el.style.width = Math.max(0, Math.min(100, v)) + "%";
  });
  root.querySelectorAll("[data-width-px]").forEach(function (el) {
    const v = parseFloat(el.dataset.widthPx);
    if (isFinite(v)) el.style.width = v + "px";
  });
}
// After a swap, in the same task as the swap itself: the new bars get their width before
// their first paint, so a polled progress bar doesn't restart from 0 (its CSS transition).
document.addEventListener("DOMContentLoaded", function () { applySizes(document); });
document.addEventListener("htmx:afterSwap", function () { applySizes(document); });
document.addEventListener("htmx:oobAfterSwap", function () { applySizes(document); });

// <select data-autosubmit>: picking an option sends its form (was an inline onchange).
document.addEventListener("change", function (e) {
  const select = e.target;
  if (select && select.matches && select.matches("select[data-autosubmit]") && select.form) select.form.requestSubmit();
});

// <form data-guard>: once sent, its submit button is disabled and a spinner shows, so a
// second click (or Enter) on a slow server sends nothing. A page restored from the
// back-forward cache gets its buttons back.
document.addEventListener("submit", function (e) {
  const form = e.target;
  if (!form.matches || !form.matches("form[data-guard]")) return;
  if (form.dataset.sent) { e.preventDefault(); return; }
  form.dataset.sent = "1";
  // After this task: disabling the button now would leave its name/value out of the post.
  setTimeout(function () {
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    const spinner = form.querySelector(".spinner");
    if (spinner) spinner.hidden = false;
  }, 0);
});
window.addEventListener("pageshow", function (e) {
  if (!e.persisted) return;
  document.querySelectorAll("form[data-guard]").forEach(function (form) {
    delete form.dataset.sent;
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    const spinner = form.querySelector(".spinner");
    if (spinner) spinner.hidden = true;
  });
});

// The retrain form's estimate card refuses options it can't plan with a 400 that names them:
// let it swap in, like the refusals above.
document.addEventListener("htmx:beforeSwap", function (e) {
  if (e.detail.xhr.status === 400 && e.detail.target && e.detail.target.id === "run-estimate") {
    e.detail.shouldSwap = true;
    e.detail.isError = false;
  }
});
