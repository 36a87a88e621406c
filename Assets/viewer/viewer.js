/* Atlas viewer: pans and zooms a 256-px XYZ tile pyramid and shows the record of the cell under the pointer.
   No dependencies; reads window.ATLAS_INDEX from atlas.js (schema: FORMAT.md, atlas-index version 1).

   Coordinate systems (per grid):
   - canvas px (px, py): the full-resolution canvas, [0, width) × [0, height). Cell rects are in canvas px.
   - screen px (sx, sy): CSS px inside the <canvas> element, W × H. The view {s, cx, cy} says s CSS px per canvas
     px and which canvas point (cx, cy) sits at the element centre:  sx = (px − cx)·s + W/2.
   - device px: screen px × dpr (devicePixelRatio). The backing store is device-sized; tile edges are rounded to
     whole device px so that neighbouring tiles meet without seams.
   - level px at level z: canvas px × ls, ls = 2^(z − maxZoom). We draw the coarsest level with ls ≥ s·dpr (less
     7%), so tiles are scaled down, not up, except past full resolution, where pixels are shown crisp from 2×.
   - tile (tx, ty) at level z: floor(level px / T), T = tileSize; it covers canvas px [tx·T/ls, (tx+1)·T/ls).
     Its ancestor k levels up is (tx >> k, ty >> k), whose (T/2^k)-px square at ((tx mod 2^k)·T/2^k, …) covers
     the same area: drawn scaled up as a stand-in while the tile loads.
   - grid cell (x, y) = floor((p − origin) / cellSize); the record's rect is the painted icon inside that box.
   - hash zoom z: s = 2^(z − maxZoom), the same unit as tile levels (at z = maxZoom one canvas px = one CSS px). */
(function () {
  'use strict';
  const MAX_INFLIGHT = 12, CACHE_MAX = 400, MAX_SCALE = 8, UI_BG = '#121315';
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e;
  };
  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  const fmt = (v) => typeof v !== 'number' ? v : Math.abs(v) >= 1000 ? v.toFixed(0) : String(+v.toPrecision(3));
  const copy = (o) => o == null ? null : JSON.parse(JSON.stringify(o));

  const idx = window.ATLAS_INDEX;
  const cv = $('view'), ctx = cv.getContext('2d');
  const params = parseHash();
  let grid = null, cellMap = new Map(), T = 256, minZ = 0, maxZ = 0, CW = 1, CH = 1;
  let view = { s: 1, cx: 0, cy: 0 }, anim = null, W = 0, H = 0, dpr = 1;
  let hovered = null, selected = null, pointer = null, error = null, settled = false;
  let frame = 0, renderQueued = false, note = '', noteTimer = 0, hashTimer = 0, lastHash = '';
  const cache = new Map();  // "grid/z/x/y" → {img, state: 'loading' | 'ok' | 'error', used: frame, z}
  const stats = { loaded: 0, errors: 0, inflight: 0, visible: 0, painted: 0, fallback: 0, missing: 0, broken: 0,
                  level: 0, frames: 0, errorUrls: [] };
  const scriptErrors = [];  // uncaught errors, reported by state() for tests
  window.addEventListener('error', (e) => { if (e.message && scriptErrors.length < 5) scriptErrors.push(e.message); });

  // ---- start-up ---------------------------------------------------------------------------------------------
  function fail(msg) {
    error = msg;
    Object.assign($('message'), { textContent: msg, hidden: false });
    cv.hidden = $('controls').hidden = true;
    dump();
  }

  function start() {
    if (!idx) return fail('No atlas index found.\n\natlas.js did not load. Open index.html inside an Atlas output ' +
                          'folder, next to atlas.js and tiles/.');
    if (idx.format !== 'atlas-index' || !(idx.version >= 1 && idx.version < 2))
      return fail('Unsupported index: format "' + idx.format + '", version ' + idx.version +
                  '.\nThis viewer reads atlas-index version 1.');
    if (!Array.isArray(idx.grids) || !idx.grids.length) return fail('The atlas index has no grids.');
    header(); controls(); resize(); applyHash(params);
    render();  // first frame now, not at the next animation frame: tile loads start before the load event
  }

  function header() {
    const title = idx.title || 'Atlas';
    $('title').textContent = title;
    document.title = title + ' — Atlas';
    const meta = $('meta'), parts = [];
    const add = (k, v) => {
      if (v == null || v === '') return;
      if (meta.childNodes.length) meta.append(' · ');
      meta.append(k ? k + ' ' : '', el('b', null, String(v)));
      parts.push((k ? k + ' ' : '') + v);
    };
    add('', idx.kind);
    if (idx.model) add('model', (idx.model.file || '?') + (idx.model.sha256 ? ' (' + idx.model.sha256.slice(0, 8) + ')' : ''));
    add('layer', idx.layer);
    add('seed', idx.seed);
    if (idx.settings && typeof idx.settings === 'object')
      add('', Object.entries(idx.settings).map(([k, v]) => k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(' '));
    add('created', idx.created);
    meta.title = parts.join('\n');
  }

  // ---- grids and view geometry --------------------------------------------------------------------------------
  function setGrid(id) {
    const g = idx.grids.find((g) => g.id === id) || grid || idx.grids[0];
    if (g === grid) return;
    grid = g;
    T = g.tiles.tileSize || 256; minZ = g.tiles.minZoom || 0; maxZ = g.tiles.maxZoom || 0;
    CW = g.canvas.width; CH = g.canvas.height;
    cellMap = new Map((g.cells || []).map((c) => [c.x + ',' + c.y, c]));
    hovered = selected = anim = null;
    $('grid-select').value = g.id;
    panel();
  }

  const toScreen = (px, py) => [(px - view.cx) * view.s + W / 2, (py - view.cy) * view.s + H / 2];
  const toCanvas = (sx, sy) => [(sx - W / 2) / view.s + view.cx, (sy - H / 2) / view.s + view.cy];
  const zoomOf = (s) => maxZ + Math.log2(s);
  const fitScale = () => (Math.min(W / CW, H / CH) * 0.94) || 1;
  const clampView = (v) => ({ s: clamp(v.s, fitScale() / 4, MAX_SCALE), cx: clamp(v.cx, 0, CW), cy: clamp(v.cy, 0, CH) });
  const levelFor = (s) => clamp(Math.ceil(maxZ + Math.log2(s * dpr) - 0.1), minZ, maxZ);

  function cellAt(px, py) {
    if (!grid || px < 0 || py < 0 || px >= CW || py >= CH) return null;
    const o = grid.origin || [0, 0], cs = grid.cellSize;
    return cellMap.get(Math.floor((px - o[0]) / cs) + ',' + Math.floor((py - o[1]) / cs)) || null;
  }
  function cellRect(c) {
    if (c.rect) return c.rect;
    const o = grid.origin || [0, 0], cs = grid.cellSize;
    return [o[0] + c.x * cs, o[1] + c.y * cs, cs, cs];
  }

  function setView(v) { view = clampView(v); requestRender(); scheduleHash(); }
  // Animate to view `to`; with an anchor {sx, sy, px, py} canvas point (px, py) stays under screen point (sx, sy).
  function animateTo(to, anchor, ms) {
    to = clampView(to);
    if (anchor) to = clampView({ s: to.s, cx: anchor.px - (anchor.sx - W / 2) / to.s, cy: anchor.py - (anchor.sy - H / 2) / to.s });
    anim = { from: { ...view }, to, anchor, t0: performance.now(), ms: ms || 220 };
    requestRender();
  }
  function stepAnim(now) {
    if (!anim) return;
    const { from, to, anchor } = anim;
    const t = Math.min(1, (now - anim.t0) / anim.ms), e = 1 - Math.pow(1 - t, 3);  // ease-out cubic
    const s = from.s * Math.pow(to.s / from.s, e);                                   // geometric in scale
    view = t >= 1 ? to : anchor
      ? clampView({ s, cx: anchor.px - (anchor.sx - W / 2) / s, cy: anchor.py - (anchor.sy - H / 2) / s })
      : { s, cx: from.cx + (to.cx - from.cx) * e, cy: from.cy + (to.cy - from.cy) * e };
    if (t >= 1) { anim = null; scheduleHash(); }
  }
  const target = () => anim ? anim.to : view;
  function zoomAt(sx, sy, f, animate) {
    const [px, py] = toCanvas(sx, sy), anchor = { sx, sy, px, py };
    if (animate) return animateTo({ s: target().s * f, cx: 0, cy: 0 }, anchor);
    const s = clampView({ s: view.s * f, cx: 0, cy: 0 }).s;
    anim = null;
    setView({ s, cx: px - (sx - W / 2) / s, cy: py - (sy - H / 2) / s });
  }
  function panBy(dx, dy) { anim = null; setView({ s: view.s, cx: view.cx - dx / view.s, cy: view.cy - dy / view.s }); }
  function fit(animate) {
    const v = { s: fitScale(), cx: CW / 2, cy: CH / 2 };
    if (animate) animateTo(v, null, 300); else { anim = null; setView(v); }
  }
  function zoomToCell(c) {
    const r = cellRect(c);
    animateTo({ s: Math.min(W, H) * 0.3 / Math.max(r[2], r[3]), cx: r[0] + r[2] / 2, cy: r[1] + r[3] / 2 }, null, 400);
  }

  // ---- tiles --------------------------------------------------------------------------------------------------
  // Returns the cache entry of a tile. With `load`, a missing tile is queued for pump(), which keeps MAX_INFLIGHT
  // loads going; a finished load starts the next one at once, and the last paints at once, so that the page's load
  // event (which headless --dump-dom / --screenshot wait for) comes after every visible tile is painted.
  let queue = [];  // [key, url, z] wanted by the last frame, best first
  function tile(z, x, y, load) {
    const key = grid.id + '/' + z + '/' + x + '/' + y;
    const t = cache.get(key);
    if (t) t.used = frame;
    else if (load) queue.push([key, grid.tiles.path.replace('{z}', z).replace('{x}', x).replace('{y}', y), z]);
    return t;
  }
  function pump() {
    while (stats.inflight < MAX_INFLIGHT && queue.length) {
      const [key, url, z] = queue.shift();
      if (cache.has(key)) continue;
      const t = { img: new Image(), state: 'loading', used: frame, z };
      const done = (ok) => {
        t.state = ok ? 'ok' : 'error';
        stats.inflight--;
        if (ok) stats.loaded++;
        else if (stats.errors++ < 5) stats.errorUrls.push(url);
        pump();
        if (!stats.inflight) render(); else requestRender();  // the last one paints now, before the load event
      };
      t.img.onload = () => done(true);
      t.img.onerror = () => done(false);
      t.img.src = url;
      stats.inflight++;
      cache.set(key, t);
    }
  }
  // Tiles of level z that intersect the view, nearest to the centre first.
  function visibleTiles(z) {
    const ls = Math.pow(2, z - maxZ), n = T / ls;  // n: canvas px per tile
    const [l, t] = toCanvas(0, 0), [r, b] = toCanvas(W, H);
    const nx = Math.ceil(CW * ls / T), ny = Math.ceil(CH * ls / T), out = [];
    for (let y = Math.max(0, Math.floor(t / n)); y <= Math.min(ny - 1, Math.floor(b / n)); y++)
      for (let x = Math.max(0, Math.floor(l / n)); x <= Math.min(nx - 1, Math.floor(r / n)); x++)
        out.push([x, y, Math.hypot((x + 0.5) * n - view.cx, (y + 0.5) * n - view.cy)]);
    return out.sort((a, b) => a[2] - b[2]);
  }
  function evict() {
    if (cache.size <= CACHE_MAX) return;
    const old = [...cache].filter(([, t]) => t.state !== 'loading' && t.used < frame && t.z > minZ)
      .sort((a, b) => a[1].used - b[1].used);
    for (const [k] of old.slice(0, cache.size - Math.floor(CACHE_MAX * 0.75))) cache.delete(k);
  }

  // ---- rendering ----------------------------------------------------------------------------------------------
  function resize() {
    const r = cv.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1; W = r.width || 1; H = r.height || 1;
    const bw = Math.round(W * dpr), bh = Math.round(H * dpr);
    if (cv.width !== bw || cv.height !== bh) { cv.width = bw; cv.height = bh; }
  }
  function requestRender() {
    if (renderQueued || error) return;
    renderQueued = true;
    const go = () => { if (renderQueued) render(); };
    requestAnimationFrame(go);
    setTimeout(go, 100);  // fallback: headless Chromium under virtual time issues (almost) no animation frames
  }
  const dev = (v) => Math.round(v * dpr);  // screen px → whole device px

  function render() {
    renderQueued = false; frame++; stats.frames++;
    resize();
    stepAnim(performance.now());
    if (pointer && !drag) setHover(cellAt(...toCanvas(pointer.x, pointer.y)));
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.imageSmoothingQuality = 'high';
    ctx.fillStyle = UI_BG;
    ctx.fillRect(0, 0, cv.width, cv.height);

    // Clip to the canvas area: edge tiles are padded to T × T, the padding must not show.
    const [x0, y0] = toScreen(0, 0), [x1, y1] = toScreen(CW, CH);
    ctx.save(); ctx.beginPath(); ctx.rect(dev(x0), dev(y0), dev(x1) - dev(x0), dev(y1) - dev(y0)); ctx.clip();
    ctx.fillStyle = grid.background || '#000';
    ctx.fill();

    queue = [];
    for (const [x, y] of visibleTiles(minZ)) tile(minZ, x, y, true);  // stand-ins first
    const z = levelFor(view.s), n = T / Math.pow(2, z - maxZ), list = visibleTiles(z);
    ctx.imageSmoothingEnabled = view.s * dpr * n / T < 2;  // device px per tile px
    let painted = 0, fallback = 0, missing = 0, broken = 0;
    for (const [tx, ty] of list) {
      const t = tile(z, tx, ty, true);
      const [sx, sy] = toScreen(tx * n, ty * n), [ex, ey] = toScreen((tx + 1) * n, (ty + 1) * n);
      const dx = dev(sx), dy = dev(sy), dw = dev(ex) - dx, dh = dev(ey) - dy;
      if (t && t.state === 'ok') { ctx.drawImage(t.img, dx, dy, dw, dh); painted++; continue; }
      let stand = false;
      for (let k = 1; z - k >= minZ && !stand; k++) {
        const a = tile(z - k, tx >> k, ty >> k, false);
        if (!a || a.state !== 'ok') continue;
        const m = T / (1 << k), mask = (1 << k) - 1;
        ctx.drawImage(a.img, (tx & mask) * m, (ty & mask) * m, m, m, dx, dy, dw, dh);
        stand = true;
      }
      if (t && t.state === 'error') broken++; else if (stand) fallback++; else missing++;
    }
    ctx.restore();
    pump();
    ctx.lineWidth = 1;
    ctx.strokeStyle = 'rgba(255,255,255,0.08)';  // the canvas edge, faintly
    ctx.strokeRect(dev(x0) - 0.5, dev(y0) - 0.5, dev(x1) - dev(x0) + 1, dev(y1) - dev(y0) + 1);

    if (hovered && hovered !== selected) outline(hovered, 'rgba(255,255,255,0.9)', 1.5);
    if (selected) outline(selected, '#5fb0ff', 2.5);

    Object.assign(stats, { visible: list.length, painted, fallback, missing, broken, level: z });
    settled = !anim && painted + broken === list.length;
    evict();
    status();
    if (anim) requestRender();
    dump();
  }

  function outline(c, color, width) {
    const r = cellRect(c), [sx, sy] = toScreen(r[0], r[1]), [ex, ey] = toScreen(r[0] + r[2], r[1] + r[3]);
    const x = dev(sx), y = dev(sy), w = dev(ex) - x, h = dev(ey) - y;
    for (const [lw, col] of [[width + 2, 'rgba(0,0,0,0.55)'], [width, color]]) {  // dark halo, then the colour
      ctx.lineWidth = lw * dpr; ctx.strokeStyle = col; ctx.strokeRect(x, y, w, h);
    }
  }

  function status() {
    const s = $('status');
    s.textContent = 'zoom ' + zoomOf(view.s).toFixed(1) + ' · level ' + stats.level + ' · ' +
      stats.painted + '/' + stats.visible + ' tiles' + (note ? ' · ' + note : '');
    if (stats.errors) s.append(' · ', el('span', 'bad', stats.errors + ' tile' + (stats.errors > 1 ? 's' : '') + ' failed'));
  }
  function flash(msg) {
    note = msg; clearTimeout(noteTimer); requestRender();
    noteTimer = setTimeout(() => { note = ''; requestRender(); }, 3000);
  }

  // ---- cell panel ---------------------------------------------------------------------------------------------
  function setHover(c) {
    if (c !== hovered) { hovered = c; panel(); requestRender(); }
  }
  function select(c, jump) {
    selected = c || null; panel();
    if (c && jump) zoomToCell(c);
    requestRender(); scheduleHash();
  }

  function panel() {
    const c = selected || hovered, p = $('panel');
    p.hidden = !c;
    if (!c) return;
    p.classList.toggle('pinned', !!selected);
    $('panel-pin').hidden = $('panel-close').hidden = !selected;
    $('panel-title').textContent = c.channel != null
      ? (idx.kind === 'gallery' || idx.kind === 'activations' ? 'Channel ' : 'Unit ') + c.channel : 'Cell ' + c.x + ', ' + c.y;
    const body = $('panel-body');
    body.replaceChildren();
    if (c.icon) body.append(Object.assign(el('img', 'icon'), { src: c.icon, alt: '' }));

    const kv = el('dl', 'kv');
    const row = (k, v) => { if (v != null && v !== '') kv.append(el('dt', null, k), el('dd', null, String(fmt(v)))); };
    row('label', c.label); row('objective', c.objective); row('samples', c.n); row('norm', c.norm);
    row((idx.settings && idx.settings.statistic) || 'value', c.value);
    if (c.channel != null) row('cell', c.x + ', ' + c.y);
    body.append(kv);

    if (Array.isArray(c.top) && c.top.length) {
      body.append(el('h2', null, 'Top classes'));
      const top = el('div', 'top'), max = Math.max(...c.top.map((t) => Math.abs(t.value) || 0)) || 1;
      for (const t of c.top) {
        const lab = el('span', 'lab', t.label != null ? t.label : '');
        if (t.index != null) lab.append(' ', el('small', null, '#' + t.index));
        lab.title = lab.textContent;
        const bar = el('span', 'bar'), fill = el('i');
        fill.style.width = (100 * Math.max(0, t.value) / max).toFixed(1) + '%';
        bar.append(fill);
        top.append(lab, bar, el('span', 'val', fmt(t.value)));
      }
      body.append(top);
    }

    if (Array.isArray(c.samples) && c.samples.length) {
      const shown = c.samples.length;
      body.append(el('h2', null, 'Samples' + (c.n > shown ? ' (' + shown + ' of ' + c.n + ')' : '')));
      const thumbs = el('div', 'samples'), paths = el('ol', 'paths');
      for (const s of c.samples) {
        const where = s.x != null ? ' (' + s.x + ', ' + s.y + ')' : '';
        if (!s.thumb) { paths.append(el('li', null, (s.path || '?') + where)); continue; }
        const f = el('figure'), i = Object.assign(el('img'), { src: s.thumb, alt: s.path || '', loading: 'lazy' });
        f.title = (s.path || '') + where;
        f.append(i, el('figcaption', null, (s.path || '').split('/').pop() + where));
        thumbs.append(f);
      }
      if (thumbs.childNodes.length) body.append(thumbs);
      if (paths.childNodes.length) body.append(paths);
    }
  }

  // ---- input --------------------------------------------------------------------------------------------------
  const ptrs = new Map();  // active pointers (mouse button down / fingers): id → screen position
  let drag = null, pinch = null;
  const pos = (e) => { const r = cv.getBoundingClientRect(); return { x: e.clientX - r.left, y: e.clientY - r.top }; };
  const pinchInfo = () => {
    const [a, b] = [...ptrs.values()];
    return { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  };

  function controls() {
    const gs = $('grid-select');
    if (idx.grids.length > 1) {
      gs.hidden = false;
      for (const g of idx.grids) gs.append(new Option(g.label || g.id, g.id));
      gs.onchange = () => { setGrid(gs.value); fit(false); cv.focus(); };
    }
    $('search').hidden = false;
    $('search-input').placeholder = idx.kind === 'gallery' ? 'Jump to channel / class' : 'Jump to class or x,y';
    $('search').onsubmit = (e) => { e.preventDefault(); search($('search-input').value); };
    $('zoom-in').onclick = () => zoomAt(W / 2, H / 2, 2, true);
    $('zoom-out').onclick = () => zoomAt(W / 2, H / 2, 0.5, true);
    $('zoom-fit').onclick = () => fit(true);
    $('panel-close').onclick = () => select(null);

    cv.addEventListener('pointerdown', (e) => {
      if (e.button > 0) return;
      cv.focus({ preventScroll: true });
      try { cv.setPointerCapture(e.pointerId); } catch (_) { /* synthetic events */ }
      ptrs.set(e.pointerId, pos(e));
      anim = null;
      if (ptrs.size === 1) drag = { moved: false, start: pos(e) };
      else { if (drag) drag.moved = true; pinch = pinchInfo(); }  // a second finger: pinch, never a tap
      cv.classList.add('dragging');
    });
    cv.addEventListener('pointermove', (e) => {
      const p = pos(e), prev = ptrs.get(e.pointerId);
      if (!prev) { pointer = p; requestRender(); return; }  // plain hover
      ptrs.set(e.pointerId, p);
      if (ptrs.size === 1 && drag) {
        if (Math.hypot(p.x - drag.start.x, p.y - drag.start.y) > 4) drag.moved = true;
        if (drag.moved) panBy(p.x - prev.x, p.y - prev.y);
      } else if (ptrs.size === 2 && pinch) {
        const q = pinchInfo();
        zoomAt(q.x, q.y, q.d / pinch.d, false);
        panBy(q.x - pinch.x, q.y - pinch.y);
        pinch = q;
      }
    });
    const up = (e) => {
      if (!ptrs.delete(e.pointerId)) return;
      pinch = null;
      if (ptrs.size) return;
      cv.classList.remove('dragging');
      if (drag && !drag.moved && e.type === 'pointerup') {  // a click or tap: pin the cell, or unpin
        const c = cellAt(...toCanvas(pos(e).x, pos(e).y));
        select(c === selected ? null : c);
      }
      drag = null;
    };
    cv.addEventListener('pointerup', up);
    cv.addEventListener('pointercancel', up);
    cv.addEventListener('pointerleave', () => { if (!ptrs.size) { pointer = null; setHover(null); } });

    // Wheel: ctrl+wheel is a trackpad pinch (or ctrl+mouse wheel) → smooth zoom; a mouse wheel notch (line mode
    // or a large integer step with no horizontal part) → half a level, animated; anything else is a two-finger
    // trackpad scroll → pan.
    cv.addEventListener('wheel', (e) => {
      e.preventDefault();
      const p = pos(e), dy = e.deltaY;
      if (e.ctrlKey) zoomAt(p.x, p.y, Math.exp(-clamp(dy, -50, 50) * 0.01), false);
      else if (e.deltaMode || (!e.deltaX && Math.abs(dy) >= 40 && Number.isInteger(dy))) zoomAt(p.x, p.y, Math.pow(2, -Math.sign(dy) * 0.5), true);
      else panBy(-e.deltaX, -dy);
    }, { passive: false });

    window.addEventListener('keydown', (e) => {
      if ((e.target.closest && e.target.closest('input, select, textarea')) || e.ctrlKey || e.metaKey || e.altKey) return;
      const step = 120 / target().s, v = target(), k = e.key;
      const move = (dx, dy) => animateTo({ s: v.s, cx: v.cx + dx, cy: v.cy + dy }, null, 150);
      const arrow = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[k];
      if (arrow) move(arrow[0] * step, arrow[1] * step);
      else if (k === '+' || k === '=') zoomAt(W / 2, H / 2, 2, true);
      else if (k === '-' || k === '_') zoomAt(W / 2, H / 2, 0.5, true);
      else if (k === '0') fit(true);
      else if (k === 'Escape') select(null);
      else if (k === '/') $('search-input').focus();
      else return;
      e.preventDefault();
    });
    window.addEventListener('resize', requestRender);
    window.addEventListener('hashchange', () => { if (location.hash !== lastHash) applyHash(parseHash()); });
  }

  // ---- search: "37" / "#37" → channel 37 (or top-1 class index 37), "3,7" → cell, text → label/class name ------
  let found = { q: null, hits: [], i: 0 };
  function matches(q) {
    const cells = grid.cells || [], top1 = (c) => (c.top && c.top[0]) || {};
    let m = /^(\d+)\s*[, ]\s*(\d+)$/.exec(q);
    if (m) return cells.filter((c) => c.x === +m[1] && c.y === +m[2]);
    if ((m = /^#?(\d+)$/.exec(q))) {
      const n = +m[1], ch = cells.filter((c) => c.channel === n);
      return ch.length ? ch : cells.filter((c) => top1(c).index === n).sort((a, b) => top1(b).value - top1(a).value);
    }
    const s = q.toLowerCase(), has = (v) => typeof v === 'string' && v.toLowerCase().includes(s);
    const score = (c) => [c.label, top1(c).label, c.objective].some((v) => typeof v === 'string' && v.toLowerCase() === s) ? 0 : 1;
    return cells.filter((c) => has(c.label) || has(c.objective) || has(top1(c).label))
      .sort((a, b) => score(a) - score(b) || (top1(b).value || 0) - (top1(a).value || 0));
  }
  function search(q) {
    q = q.trim();
    if (!q) return;
    if (q === found.q && found.hits.length) found.i = (found.i + 1) % found.hits.length;  // Enter again: next hit
    else found = { q, hits: matches(q), i: 0 };
    $('search-input').classList.toggle('nomatch', !found.hits.length);
    if (!found.hits.length) return flash('no match for "' + q + '"');
    flash('match ' + (found.i + 1) + ' of ' + found.hits.length);
    select(found.hits[found.i], true);
  }

  // ---- URL hash: #g=<grid>&z=<zoom>&c=<cx>,<cy>&select=<x>,<y>[&hover=<x>,<y>][&dump=1] ---------------------
  function parseHash() {
    const p = {};
    for (const part of location.hash.replace(/^#/, '').split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      p[decodeURIComponent(i < 0 ? part : part.slice(0, i))] = i < 0 ? '' : decodeURIComponent(part.slice(i + 1));
    }
    return p;
  }
  const pair = (s) => { const m = /^(-?[\d.]+),(-?[\d.]+)$/.exec(s || ''); return m ? [+m[1], +m[2]] : null; };
  function applyHash(p) {
    setGrid(p.g);
    resize();
    const c = pair(p.c), z = parseFloat(p.z);
    if (isFinite(z)) setView({ s: Math.pow(2, z - maxZ), cx: c ? c[0] : CW / 2, cy: c ? c[1] : CH / 2 });
    else fit(false);
    const sel = pair(p.select), hov = pair(p.hover);
    if (sel) api.selectCell(sel[0], sel[1]); else select(null);
    if (hov) api.hoverCell(hov[0], hov[1]);
  }
  function scheduleHash() {
    clearTimeout(hashTimer);
    hashTimer = setTimeout(() => {
      const parts = ['g=' + encodeURIComponent(grid.id), 'z=' + zoomOf(view.s).toFixed(2),
                     'c=' + Math.round(view.cx) + ',' + Math.round(view.cy)];
      if (selected) parts.push('select=' + selected.x + ',' + selected.y);
      if (params.dump) parts.push('dump=1');
      const h = '#' + parts.join('&');
      if (h === location.hash) return;
      lastHash = h;
      const url = location.href.split('#')[0] + h;  // absolute: a <base href> must not redirect the hash
      try { history.replaceState(null, '', url); } catch (_) { location.replace(url); }
    }, 300);
  }

  // ---- test hook: window.atlasViewer, and #…&dump=1 → <pre id="atlas-state"> ------------------------------------
  function state() {
    if (error) return { version: 1, ready: true, error };
    return {
      version: 1, ready: settled, kind: idx.kind, grid: grid.id, zoom: +zoomOf(view.s).toFixed(3), scale: view.s,
      center: [view.cx, view.cy], viewport: [W, H], dpr, hovered: copy(hovered), selected: copy(selected),
      tiles: { ...stats, cached: cache.size, errorUrls: stats.errorUrls.slice() }, scriptErrors: scriptErrors.slice(),
    };
  }
  function dump() {
    if (!('dump' in params) || params.dump === '0') return;
    let pre = $('atlas-state');
    if (!pre) { pre = el('pre'); pre.id = 'atlas-state'; document.body.append(pre); }
    pre.textContent = JSON.stringify(state());
  }
  const api = window.atlasViewer = {
    state,
    hoverCell(x, y) { if (grid) setHover(cellMap.get(x + ',' + y) || null); return copy(hovered); },
    selectCell(x, y) { if (grid) select(cellMap.get(x + ',' + y) || null); return copy(selected); },
    setGrid(id) { setGrid(id); fit(false); return grid && grid.id; },
    fit() { fit(false); },
  };

  start();
})();
