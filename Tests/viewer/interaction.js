/* Interaction test of the Atlas viewer. scripts/viewer/browser_test.sh evaluates it in a loaded index.html (via
   cdp_run.py), it drives the viewer with synthetic pointer, wheel, touch and key events, checks
   window.atlasViewer.state() and the panel, and the script reads the verdict from
   <pre id="interaction-result">{"done": bool, "pass": bool, "failures": [...], "log": [passed checks]}</pre>. */
(async function () {
  'use strict';
  const v = window.atlasViewer, idx = window.ATLAS_INDEX, $ = (id) => document.getElementById(id);
  const cv = $('view'), log = [], failures = [];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const frames = () => sleep(250);   // a few frames
  const settle = () => sleep(700);   // animations last ≤ 400 ms
  const ready = async () => { for (let i = 0; i < 300 && !v.state().ready; i++) await sleep(20); return v.state(); };
  const out = document.createElement('pre');
  out.id = 'interaction-result';
  out.hidden = true;  // must not take layout space from the map
  document.body.append(out);
  const report = (done) => { out.textContent = JSON.stringify({ done, pass: done && !failures.length, failures, log }); };
  const check = (name, ok, detail) => {
    if (ok) log.push(name); else failures.push(name + ': ' + JSON.stringify(detail));
    report(false);
  };
  const near = (a, b, tol) => Math.abs(a - b) <= tol;
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const R = cv.getBoundingClientRect(), W = R.width, H = R.height;
  const at = (x, y) => ({ clientX: R.left + x, clientY: R.top + y, bubbles: true, cancelable: true });
  const ptr = (type, x, y, o) => cv.dispatchEvent(new PointerEvent(type, {
    ...at(x, y), pointerId: 1, pointerType: 'mouse', isPrimary: true, button: 0, buttons: type === 'pointerup' ? 0 : 1, ...o }));
  const click = (x, y) => { ptr('pointerdown', x, y); ptr('pointerup', x, y); };
  const wheel = (x, y, o) => cv.dispatchEvent(new WheelEvent('wheel', { ...at(x, y), ...o }));
  const key = (k) => cv.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true }));
  const toScreen = (px, py, s) => [(px - s.center[0]) * s.scale + W / 2, (py - s.center[1]) * s.scale + H / 2];
  const toCanvas = (sx, sy, s) => [(sx - W / 2) / s.scale + s.center[0], (sy - H / 2) / s.scale + s.center[1]];

  try {
    if (!v) throw new Error('window.atlasViewer is missing');
    let s0 = await ready(), s;
    const grid = idx.grids.find((g) => g.id === s0.grid), cells = grid.cells || [];
    check('starts at fit, centred', near(s0.center[0], grid.canvas.width / 2, 1) && near(s0.center[1], grid.canvas.height / 2, 1), s0);

    // Mouse wheel notch at an off-centre point: +0.5 level, animated; the canvas point under the pointer stays.
    const px = W * 0.35, py = H * 0.6, anchor = toCanvas(px, py, s0);
    wheel(px, py, { deltaY: -100 });
    await settle();
    s = v.state();
    check('wheel notch zooms in half a level', near(s.zoom, s0.zoom + 0.5, 0.01), [s0.zoom, s.zoom]);
    const back = toScreen(anchor[0], anchor[1], s);
    check('wheel zoom keeps the point under the pointer', near(back[0], px, 0.5) && near(back[1], py, 0.5), [back, px, py]);

    // ctrl+wheel = trackpad pinch: immediate zoom by exp(−deltaY / 100), also anchored.
    s0 = v.state();
    wheel(px, py, { deltaY: -20, ctrlKey: true });
    await frames();
    s = v.state();
    check('pinch (ctrl+wheel) zooms', near(s.zoom - s0.zoom, Math.log2(Math.exp(0.2)), 0.01), [s0.zoom, s.zoom]);

    // Two-finger trackpad scroll (fractional deltas) pans.
    s0 = v.state();
    wheel(W / 2, H / 2, { deltaX: 30.5, deltaY: -12.5 });
    await frames();
    s = v.state();
    check('trackpad scroll pans', near(s.center[0] - s0.center[0], 30.5 / s.scale, 0.01) &&
          near(s.center[1] - s0.center[1], -12.5 / s.scale, 0.01) && s.zoom === s0.zoom, [s0.center, s.center]);

    // Drag pans (content follows the pointer) and is not a click.
    s0 = v.state();
    ptr('pointerdown', 400, 300); ptr('pointermove', 430, 310); ptr('pointermove', 500, 350); ptr('pointerup', 500, 350);
    await frames();
    s = v.state();
    check('drag pans', near(s0.center[0] - s.center[0], 100 / s.scale, 0.01) && near(s0.center[1] - s.center[1], 50 / s.scale, 0.01),
          [s0.center, s.center]);
    check('drag does not select', s.selected === null, s.selected);

    // Keyboard: 0 fits, + / − zoom one level about the centre, arrows pan 120 screen px.
    key('0'); await settle();
    const fitted = v.state();
    check('0 fits', near(fitted.center[0], grid.canvas.width / 2, 0.5) && near(fitted.zoom, s0.zoom - 0.5 - Math.log2(Math.exp(0.2)), 0.01), fitted);
    key('+'); await settle();
    check('+ zooms in one level', near(v.state().zoom, fitted.zoom + 1, 0.01), v.state().zoom);
    s0 = v.state();
    key('ArrowRight'); await settle();
    check('ArrowRight pans', near(v.state().center[0] - s0.center[0], 120 / s0.scale, 0.5), [s0.center, v.state().center]);
    key('-'); await settle();
    check('− zooms out one level', near(v.state().zoom, fitted.zoom, 0.01), v.state().zoom);

    // Touch: two fingers spreading to twice their distance → +1 level, and no tap.
    key('0'); await settle();
    s0 = v.state();
    const t = (type, id, x, y) => ptr(type, x, y, { pointerId: id, pointerType: 'touch', isPrimary: id === 11 });
    t('pointerdown', 11, W / 2 - 40, H / 2); t('pointerdown', 12, W / 2 + 40, H / 2);
    t('pointermove', 11, W / 2 - 80, H / 2); t('pointermove', 12, W / 2 + 80, H / 2);
    t('pointerup', 11, W / 2 - 80, H / 2); t('pointerup', 12, W / 2 + 80, H / 2);
    await frames();
    s = v.state();
    check('two-finger pinch zooms one level', near(s.zoom, s0.zoom + 1, 0.01), [s0.zoom, s.zoom]);
    check('pinch is not a tap', s.selected === null, s.selected);
    key('0'); await settle();

    if (cells.length) {
      // Hover and click a real cell on screen.
      const c = cells[Math.floor(cells.length / 2)], r = c.rect;
      const [hx, hy] = toScreen(r[0] + r[2] / 2, r[1] + r[3] / 2, v.state());
      ptr('pointermove', hx, hy, { buttons: 0 });
      await frames();
      check('hover finds the cell under the pointer', same(v.state().hovered, c), [c.x, c.y, v.state().hovered]);
      check('panel shows the hovered cell', !$('panel').hidden && $('panel-title').textContent.includes(String(c.channel != null ? c.channel : c.x)),
            $('panel-title').textContent);
      check('panel lists the top classes', !c.top || document.querySelectorAll('#panel .top .bar').length === c.top.length,
            document.querySelectorAll('#panel .top .bar').length);
      check('panel shows the count', c.n == null || $('panel-body').textContent.includes(String(c.n)), $('panel-body').textContent);
      click(hx, hy);
      await frames();
      check('click pins the cell', same(v.state().selected, c) && $('panel').classList.contains('pinned'), v.state().selected);
      await sleep(400);
      check('URL hash records grid, zoom, centre, selection',
            new RegExp('g=' + grid.id + '&z=-?[\\d.]+&c=\\d+,\\d+&select=' + c.x + ',' + c.y).test(location.hash), location.hash);
      click(hx, hy);
      await frames();
      check('clicking the pinned cell unpins it', v.state().selected === null, v.state().selected);
      ptr('pointerleave', -10, -10, { buttons: 0 });
      await frames();
      check('leaving the map hides the panel', v.state().hovered === null && $('panel').hidden, v.state().hovered);

      // Search box: "x,y", a channel number (galleries), a class name; Enter again cycles; no match is flagged.
      const search = async (q) => { $('search-input').value = q; $('search').requestSubmit(); await settle(); return v.state(); };
      s = await search(c.x + ', ' + c.y);
      check('search "x,y" selects and centres the cell', same(s.selected, c) && near(s.center[0], r[0] + r[2] / 2, 1), s.center);
      if (c.channel != null) check('search channel number', (await search(String(c.channel))).selected.channel === c.channel, v.state().selected);
      const label = c.top && c.top[0] && c.top[0].label;
      if (label) {
        s = await search(label);
        const first = s.selected;
        check('search class name finds a cell whose top class it is', first && first.top[0].label === label, first);
        s = await search(label);
        const hits = cells.filter((d) => d.top && d.top[0].label === label).length;
        check('Enter again goes to the next match', hits < 2 || !same(s.selected, first), hits);
      }
      s = await search('no-such-class-zzz');
      check('no match is flagged', $('search-input').classList.contains('nomatch'), $('status').textContent);
      key('Escape'); await frames();
      check('Escape unpins', v.state().selected === null, v.state().selected);
    }

    // Grid switcher.
    if (idx.grids.length > 1) {
      const sel = $('grid-select'), g2 = idx.grids[1];
      check('grid switcher shown', !sel.hidden && sel.options.length === idx.grids.length, sel.options.length);
      sel.value = g2.id;
      sel.dispatchEvent(new Event('change'));
      s = await ready();
      check('grid switcher changes grid', s.grid === g2.id && s.tiles.painted > 0 && s.ready, s);
    }

    // Zoom around the whole canvas: everything loads, nothing fails, the cache stays bounded.
    for (let i = 0; i < 10; i++) {
      wheel(W * (0.2 + 0.06 * i), H * (0.3 + 0.04 * i), { deltaY: i < 7 ? -100 : 100 });
      await sleep(60);
    }
    s = await ready();
    check('zoomed view loads fully', s.ready && s.tiles.painted === s.tiles.visible && s.tiles.errors === 0, s.tiles);
    check('tile cache stays bounded', s.tiles.cached <= 400, s.tiles.cached);
  } catch (e) {
    failures.push('exception: ' + (e && e.stack || e));
  }
  report(true);
})();
