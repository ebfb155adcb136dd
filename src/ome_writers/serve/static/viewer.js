"use strict";
// The ome-writers viewer: planes from /_viewer/plane, windowed, coloured and
// added up on a canvas; /_viewer/info polled to follow an acquisition.
(() => {
  const POLL_MS = 500;
  const MIN_ZOOM = 1 / 256;
  const MAX_ZOOM = 64;
  const TYPED = {
    uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
    uint32: Uint32Array, int32: Int32Array, float32: Float32Array, float64: Float64Array,
  };
  // colours of channels that all have the same one (green and magenta first)
  const PALETTE = ["#00ff00", "#ff00ff", "#00ffff", "#ff0000", "#0000ff", "#ffff00"];
  const INT_RANGE = {
    uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767],
    uint32: [0, 4294967295], int32: [-2147483648, 2147483647],
  };

  const token = new URLSearchParams(location.search).get("token");
  const authHeaders = token ? { Authorization: "Bearer " + token } : {};
  const $ = (id) => document.getElementById(id);
  const canvas = $("view");
  const ctx = canvas.getContext("2d");
  const image = document.createElement("canvas"); // the plane, one pixel per pixel
  const imageCtx = image.getContext("2d");

  const state = {
    info: null,
    infoKey: "",
    index: {},            // dimension -> index shown
    channels: [],         // {name, color, min, max, visible, auto}
    mode: "composite",
    follow: true,
    level: 0,
    zoom: 1,              // screen pixels per level-0 pixel
    offset: [0, 0],       // screen position of the image's top-left corner
    fitted: true,         // refit when the window changes size
    planes: [],           // [{channel, data, width, height}] of the last render
    rendered: null,       // what the canvas shows: {level, index, channels, key}
    lastUpdate: null,
    error: null,
  };

  let pointer = null; // the last pointer position over the canvas

  // ------------------------------------------------------------- requests

  async function api(path) {
    const reply = await fetch(path, { headers: authHeaders, cache: "no-store" });
    if (!reply.ok) {
      let message = reply.status + " " + reply.statusText;
      try { message = (await reply.json()).error || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return reply;
  }

  function planeUrl(level, index) {
    const query = new URLSearchParams({ level: String(level) });
    for (const [dim, i] of Object.entries(index)) query.set(dim, String(i));
    return "_viewer/plane?" + query.toString();
  }

  async function fetchPlane(level, index) {
    const reply = await api(planeUrl(level, index));
    const [height, width] = reply.headers.get("X-Plane-Shape").split(",").map(Number);
    const Type = TYPED[reply.headers.get("X-Plane-Dtype")];
    const data = new Type(await reply.arrayBuffer());
    return { data, width, height };
  }

  // ------------------------------------------------------------- following

  async function poll() {
    try {
      const info = await (await api("_viewer/info")).json();
      state.error = null;
      applyInfo(info);
    } catch (e) {
      state.error = e.message;
      showStatus();
    }
    setTimeout(poll, POLL_MS);
  }

  function planeDims(info) { return info.dims.slice(0, -2); }

  function applyInfo(info) {
    const first = state.info === null;
    const key = JSON.stringify([info.shape, info.updated, info.complete, info.level_shapes]);
    const channelsChanged = first || state.info.channels.length !== info.channels.length;
    state.info = info;
    if (first) {
      $("title").textContent = info.name;
      document.title = info.name + " · ome-writers";
      buildDims(info);
      fit(false);
    }
    if (channelsChanged) buildChannels(info);
    const dims = planeDims(info);
    dims.forEach((dim, axis) => {
      const size = info.shape[axis];
      if (state.follow && dim === "t" && size > 0) state.index[dim] = size - 1;
      if (state.index[dim] >= size) state.index[dim] = Math.max(0, size - 1);
    });
    updateDims();
    if (key !== state.infoKey) {
      state.infoKey = key;
      state.lastUpdate = info.updated;
      requestRender();
    }
    showStatus();
  }

  // ------------------------------------------------------------- controls

  function coordLabel(dim, i) {
    const info = state.info;
    const labels = info.labels[dim];
    if (labels && labels[i] !== undefined) return labels[i];
    if (dim === info.channel_dim && state.channels[i]) return state.channels[i].name;
    return "";
  }

  function buildDims(info) {
    const box = $("dims");
    box.textContent = "";
    for (const dim of planeDims(info)) {
      state.index[dim] = 0;
      const row = document.createElement("div");
      row.className = "dim";
      row.innerHTML =
        '<span class="name"></span><input type="range" min="0" value="0" step="1">' +
        '<span class="value"></span><span class="coord"></span>';
      row.querySelector(".name").textContent = dim;
      const slider = row.querySelector("input");
      slider.dataset.dim = dim;
      slider.setAttribute("aria-label", dim);
      slider.addEventListener("input", () => {
        state.index[dim] = Number(slider.value);
        if (dim === "t") {
          const size = state.info.shape[state.info.dims.indexOf("t")];
          state.follow = state.index[dim] === size - 1 && $("follow").checked;
          $("follow").checked = state.follow;
        }
        updateDims();
        requestRender();
      });
      box.appendChild(row);
    }
    $("follow-row").style.display = planeDims(info).includes("t") ? "" : "none";
    if (!planeDims(info).length) box.textContent = "a single plane (y, x)";
  }

  function updateDims() {
    const info = state.info;
    const channelDim = info.channel_dim;
    planeDims(info).forEach((dim, axis) => {
      const slider = document.querySelector('#dims input[data-dim="' + dim + '"]');
      const row = slider.parentElement;
      const size = info.shape[axis];
      slider.max = String(Math.max(0, size - 1));
      slider.value = String(state.index[dim]);
      const composite = dim === channelDim && state.mode === "composite";
      slider.disabled = size <= 1 || composite;
      row.querySelector(".value").textContent =
        size ? state.index[dim] + " / " + (size - 1) : "none yet";
      row.querySelector(".coord").textContent = composite
        ? "all visible channels"
        : coordLabel(dim, state.index[dim]);
    });
    document.querySelectorAll("#channels .channel").forEach((el, i) => {
      el.classList.toggle("selected",
        state.mode === "single" && channelDim && state.index[channelDim] === i);
    });
  }

  function defaultChannel(info, c, i) {
    const range = INT_RANGE[info.dtype];
    // a window spanning the whole integer range is a placeholder: look at the data
    const useful = c.window && !(range && c.window[0] <= range[0] && c.window[1] >= range[1]);
    return {
      name: c.name || "channel " + i,
      color: /^#[0-9a-fA-F]{6}$/.test(c.color) ? c.color.toLowerCase() : "#ffffff",
      min: useful ? c.window[0] : 0,
      max: useful ? c.window[1] : 1,
      visible: c.visible !== false,
      auto: !useful,
    };
  }

  function buildChannels(info) {
    const list = info.channels.length ? info.channels : [{ name: "", color: "#ffffff" }];
    const fresh = list.map((c, i) => defaultChannel(info, c, i));
    if (fresh.length > 1 && fresh.every((ch) => ch.color === fresh[0].color)) {
      // one colour for all (often white: none named) would hide which is which
      fresh.forEach((ch, i) => { ch.color = PALETTE[i % PALETTE.length]; });
    }
    state.channels = fresh.map((ch, i) => state.channels[i] || ch);
    const box = $("channels");
    box.textContent = "";
    state.channels.forEach((ch, i) => {
      const el = document.createElement("div");
      el.className = "channel";
      el.dataset.channel = String(i);
      el.innerHTML =
        '<div class="head"><input type="checkbox" class="visible" title="Visible">' +
        '<span class="cname"></span><input type="color" class="color" title="Colour"></div>' +
        '<div class="window"><input type="number" class="min" title="Display minimum">' +
        '<input type="number" class="max" title="Display maximum">' +
        '<button class="auto" title="Window from this plane\'s values">Auto</button></div>';
      el.querySelector(".cname").textContent = ch.name;
      const visible = el.querySelector(".visible");
      const color = el.querySelector(".color");
      const min = el.querySelector(".min");
      const max = el.querySelector(".max");
      visible.checked = ch.visible;
      color.value = ch.color;
      const step = info.sent_dtype.startsWith("float") ? "any" : "1";
      min.step = max.step = step;
      ch.inputs = { min, max };
      showWindow(ch);
      visible.addEventListener("change", () => {
        ch.visible = visible.checked;
        requestRender();
      });
      color.addEventListener("input", () => { ch.color = color.value; compose(); });
      const onWindow = () => {
        const lo = Number(min.value);
        const hi = Number(max.value);
        if (Number.isFinite(lo) && Number.isFinite(hi)) {
          ch.min = lo;
          ch.max = hi;
          ch.auto = false;
          compose();
        }
      };
      min.addEventListener("input", onWindow);
      max.addEventListener("input", onWindow);
      el.querySelector(".auto").addEventListener("click", () => {
        const plane = state.planes.find((p) => p.channel === i);
        if (plane) autoWindow(ch, plane.data);
        compose();
      });
      el.addEventListener("click", (event) => {
        // in single-channel mode, clicking a channel shows it
        if (state.mode !== "single" || !info.channel_dim || event.target.tagName === "INPUT"
            || event.target.tagName === "BUTTON") return;
        state.index[info.channel_dim] = i;
        updateDims();
        requestRender();
      });
      box.appendChild(el);
    });
  }

  function showWindow(ch) {
    ch.inputs.min.value = formatNumber(ch.min);
    ch.inputs.max.value = formatNumber(ch.max);
  }

  function formatNumber(v) {
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  }

  function autoWindow(ch, data) {
    // 0.1 and 99.9 percentiles of at most 2^16 samples, NaN left out
    const stride = Math.max(1, Math.floor(data.length / 65536));
    const sample = [];
    for (let i = 0; i < data.length; i += stride) {
      const v = data[i];
      if (Number.isFinite(v)) sample.push(v);
    }
    if (!sample.length) return;
    sample.sort((a, b) => a - b);
    const at = (q) => sample[Math.min(sample.length - 1, Math.floor(q * sample.length))];
    let lo = at(0.001);
    let hi = at(0.999);
    if (hi <= lo) hi = lo + 1;
    ch.min = lo;
    ch.max = hi;
    ch.auto = false;
    showWindow(ch);
  }

  // ------------------------------------------------------------- rendering

  function shownChannels() {
    const info = state.info;
    const dim = info.channel_dim;
    if (!dim) return [0];
    if (state.mode === "single") return [state.index[dim]];
    return state.channels.map((ch, i) => (ch.visible ? i : -1)).filter((i) => i >= 0);
  }

  let rendering = false;
  let again = false;

  function requestRender() {
    if (rendering) { again = true; return; }
    rendering = true;
    render().finally(() => {
      rendering = false;
      if (again) { again = false; requestRender(); }
    });
  }

  async function render() {
    const info = state.info;
    if (!info) return;
    const dims = planeDims(info);
    const empty = dims.some((d, axis) => info.shape[axis] === 0);
    if (empty) {
      showMessage("No frames written yet");
      return;
    }
    const level = chooseLevel();
    const channels = shownChannels();
    const index = { ...state.index };
    const key = info.updated + "|" + info.shape.join(",");
    try {
      const planes = await Promise.all(channels.map(async (c) => {
        const at = { ...index };
        if (info.channel_dim) at[info.channel_dim] = c;
        return { channel: c, ...(await fetchPlane(level, at)) };
      }));
      state.planes = planes;
      state.level = level;
      state.renderedAt = { level, index, channels, key };
      showMessage(channels.length ? "" : "No channel visible");
      compose();
    } catch (e) {
      showMessage("Cannot read the plane: " + e.message);
    }
    showStatus();
  }

  function hexToRgb(hex) {
    const n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  let sumBuffer = null; // the colours added up, reused while the size stays

  function compose() {
    const planes = state.planes;
    if (!planes.length) {
      image.width = image.height = 0;
      draw();
      return;
    }
    const { width, height } = planes[0];
    const n = width * height;
    if (!sumBuffer || sumBuffer.length !== n * 3) sumBuffer = new Float32Array(n * 3);
    const sum = sumBuffer;
    sum.fill(0);
    for (const plane of planes) {
      const ch = state.channels[plane.channel] || state.channels[0];
      if (ch.auto) autoWindow(ch, plane.data);
      const [r, g, b] = hexToRgb(ch.color);
      const lo = ch.min;
      const scale = ch.max > lo ? 255 / (ch.max - lo) : Infinity;
      const kr = r / 255;
      const kg = g / 255;
      const kb = b / 255;
      const data = plane.data;
      for (let i = 0; i < n; i++) {
        let v = (data[i] - lo) * scale;
        if (!(v > 0)) v = 0; // NaN as well
        else if (v > 255) v = 255;
        const j = 3 * i;
        sum[j] += v * kr;
        sum[j + 1] += v * kg;
        sum[j + 2] += v * kb;
      }
    }
    const out = new ImageData(width, height);
    const px = out.data; // Uint8ClampedArray: rounds and clamps the sums
    for (let i = 0, j = 0, k = 0; i < n; i++, j += 3, k += 4) {
      px[k] = sum[j];
      px[k + 1] = sum[j + 1];
      px[k + 2] = sum[j + 2];
      px[k + 3] = 255;
    }
    image.width = width;
    image.height = height;
    imageCtx.putImageData(out, 0, 0);
    state.rendered = state.renderedAt;
    draw();
  }

  function baseSize() {
    const s = state.info.level_shapes[0];
    return [s[s.length - 1], s[s.length - 2]];
  }

  function levelFactor(level) {
    const s0 = state.info.level_shapes[0];
    const s = state.info.level_shapes[level];
    return s0[s0.length - 1] / s[s.length - 1];
  }

  function chooseLevel() {
    // the coarsest level still holding at least one pixel per screen pixel
    const info = state.info;
    const density = 1 / (state.zoom * (window.devicePixelRatio || 1));
    let best = 0;
    for (let k = 1; k < info.levels; k++) {
      if (levelFactor(k) <= density * 1.0001) best = k;
    }
    return best;
  }

  function resizeCanvas() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr);
    const h = Math.round(canvas.clientHeight * dpr);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
  }

  function draw() {
    resizeCanvas();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!state.info || !image.width) return;
    if (state.fitted) {
      fit(false);
      if (chooseLevel() !== state.level) requestRender();
    }
    const [w0, h0] = baseSize();
    const dpr = window.devicePixelRatio || 1;
    const scale = state.zoom * dpr;
    // sharp pixels when enlarged, smooth when reduced
    ctx.imageSmoothingEnabled = scale * levelFactor(state.level) < 1;
    ctx.drawImage(image, state.offset[0] * dpr, state.offset[1] * dpr, w0 * scale, h0 * scale);
    showPixel();
  }

  // ------------------------------------------------------------- zoom and pan

  function setZoom(zoom, cx, cy) {
    zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
    const px = (cx - state.offset[0]) / state.zoom;
    const py = (cy - state.offset[1]) / state.zoom;
    state.zoom = zoom;
    state.offset = [cx - px * zoom, cy - py * zoom];
    state.fitted = false;
    afterZoom();
  }

  function afterZoom() {
    if (state.info && chooseLevel() !== state.level) requestRender();
    draw();
    showStatus();
  }

  function fit(redraw = true) {
    if (!state.info) return;
    const [w0, h0] = baseSize();
    const cw = canvas.clientWidth;
    const ch = canvas.clientHeight;
    if (!w0 || !h0 || !cw || !ch) return;
    state.zoom = Math.min(cw / w0, ch / h0);
    state.offset = [(cw - w0 * state.zoom) / 2, (ch - h0 * state.zoom) / 2];
    state.fitted = true;
    if (redraw) afterZoom();
  }

  function center() { return [canvas.clientWidth / 2, canvas.clientHeight / 2]; }

  $("zoom-in").addEventListener("click", () => setZoom(state.zoom * 2, ...center()));
  $("zoom-out").addEventListener("click", () => setZoom(state.zoom / 2, ...center()));
  $("zoom-fit").addEventListener("click", () => fit());
  $("zoom-one").addEventListener("click", () => {
    const [cx, cy] = center();
    setZoom(1, cx, cy);
    state.offset = state.offset.map(Math.round);
    draw();
  });
  window.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
    const keys = { "+": "zoom-in", "=": "zoom-in", "-": "zoom-out", "0": "zoom-fit", "1": "zoom-one" };
    if (keys[event.key]) $(keys[event.key]).click();
  });

  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const rect = canvas.getBoundingClientRect();
    const step = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    setZoom(state.zoom * Math.exp(-step * 0.0015),
      event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });

  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, offset: state.offset.slice() };
    canvas.setPointerCapture(event.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (event) => {
    if (drag) {
      state.offset = [drag.offset[0] + event.clientX - drag.x, drag.offset[1] + event.clientY - drag.y];
      state.fitted = false;
      draw();
    }
    showPixel(event);
  });
  const endDrag = () => { drag = null; canvas.classList.remove("dragging"); };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("pointerleave", () => { pointer = null; showPixel(); });
  window.addEventListener("resize", () => { draw(); showStatus(); });

  // ------------------------------------------------------------- read-outs

  function showPixel(event) {
    const out = $("pixel");
    if (event) pointer = { x: event.clientX, y: event.clientY };
    if (!pointer || !state.info || !state.planes.length) { out.textContent = ""; return; }
    const rect = canvas.getBoundingClientRect();
    const x0 = (pointer.x - rect.left - state.offset[0]) / state.zoom;
    const y0 = (pointer.y - rect.top - state.offset[1]) / state.zoom;
    const [w0, h0] = baseSize();
    if (x0 < 0 || y0 < 0 || x0 >= w0 || y0 >= h0) { out.textContent = ""; return; }
    const f = levelFactor(state.level);
    const plane = state.planes[0];
    const kx = Math.min(plane.width - 1, Math.floor(x0 / f));
    const ky = Math.min(plane.height - 1, Math.floor(y0 / f));
    const parts = state.planes.map((p) => {
      const v = p.data[ky * p.width + kx];
      const name = state.channels[p.channel] ? state.channels[p.channel].name : "";
      const text = Number.isInteger(v) ? String(v) : Number(v).toPrecision(5);
      return state.planes.length > 1 || name ? name + " " + text : text;
    });
    const where = "x " + Math.floor(x0) + "  y " + Math.floor(y0);
    const level = state.level ? "  (level " + state.level + ")" : "";
    out.textContent = where + level + "   " + parts.join("   ");
  }

  function showMessage(text) { $("message").textContent = text; }

  function ago(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    return Math.floor(s / 3600) + " h ago";
  }

  function showStatus() {
    const badge = $("state");
    const info = state.info;
    if (state.error) {
      badge.textContent = info ? "unreachable" : "waiting";
      badge.className = "badge error";
      $("status").textContent = state.error;
      if (!info) showMessage(state.error);
      return;
    }
    if (!info) return;
    badge.textContent = info.complete ? "complete" : "writing";
    badge.className = "badge " + (info.complete ? "complete" : "writing");
    const shape = info.dims.map((d, i) => d + " " + info.shape[i]).join(" × ");
    const parts = [shape, info.dtype];
    if (info.updated) {
      const when = new Date(info.updated);
      parts.push("updated " + when.toLocaleTimeString() + " (" + ago(info.updated) + ")");
    }
    if (info.levels > 1) {
      const f = levelFactor(state.level);
      parts.push("level " + state.level + " of 0–" + (info.levels - 1) + " (1:" + f + ")");
    }
    parts.push("zoom " + Math.round(state.zoom * 1000) / 10 + "%");
    $("status").textContent = parts.join("  ·  ");
  }

  $("mode").addEventListener("change", () => {
    state.mode = $("mode").value;
    updateDims();
    requestRender();
  });
  $("follow").addEventListener("change", () => {
    state.follow = $("follow").checked;
    if (state.follow && state.info) applyInfo(state.info);
    requestRender();
  });
  setInterval(() => { if (state.info && !state.error) showStatus(); }, 1000);

  // what the page shows, for scripts and tests driving it
  window.omeViewer = {
    state,
    image,
    render: requestRender,
    imagePixels() {
      return Array.from(imageCtx.getImageData(0, 0, image.width, image.height).data);
    },
  };
  poll();
})();
