/* Browser test of `atlas units` pages. scripts/viewer/serve_test.sh evaluates it (via cdp_run.py) in a served
   layer page units/<layer>/index.html: when the layer page shows the gallery canvas, it checks that the canvas is
   decoded and that the point at the centre of each unit's cell hits that unit's link; it opens a unit's page from
   the layer page's cell link in a frame, checks that the page shows its icon, k exemplar crops, its diversity set
   and its accentuated top exemplar (all decoded), that a crop opens the full image with the unit's map and the
   receptive-field box, and that prev/next links lead to the neighbouring units. Verdict in
   <pre id="interaction-result">{"done", "pass", "failures", "log"}</pre>, as interaction.js. */
(async function () {
  'use strict';
  const log = [], failures = [];
  const out = document.createElement('pre');
  out.id = 'interaction-result';
  out.hidden = true;
  document.body.append(out);
  const report = (done) => { out.textContent = JSON.stringify({ done, pass: done && !failures.length, failures, log }); };
  const check = (name, ok, detail) => { if (ok) log.push(name); else failures.push(name + ': ' + JSON.stringify(detail)); report(false); };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const loaded = (img) => img.complete && img.naturalWidth > 0;
  try {
    const index = await (await fetch('../../units.json')).json();
    check('units.json is an atlas-units index', index.format === 'atlas-units' && index.units.length > 0, index.format);
    const cells = [...document.querySelectorAll('a.cell, a.gcell')];
    check('the layer page has a cell per unit', cells.length === index.units.length, [cells.length, index.units.length]);
    const canvas = document.querySelector('img.canvas');
    if (index.canvas) {
      for (let i = 0; i < 100 && canvas && !canvas.complete; i++) await sleep(50);
      check('the gallery canvas is shown', !!canvas && loaded(canvas), canvas && canvas.src);
      const missed = cells.filter((a) => {
        const r = a.getBoundingClientRect();
        a.scrollIntoView({ block: 'center' });
        const q = a.getBoundingClientRect();
        const hit = document.elementFromPoint(q.left + q.width / 2, q.top + q.height / 2);
        return !(r.width > 0 && hit && hit.closest('a') === a);
      }).map((a) => a.getAttribute('href'));
      check('every canvas cell is a link to its unit', missed.length === 0, missed);
    }
    const unit = index.units[Math.min(1, index.units.length - 1)];
    const cell = cells.find((a) => a.getAttribute('href') === unit.channel + '.html');
    check('a cell links the unit page', !!cell, unit.channel);
    const frame = document.createElement('iframe');
    frame.style.width = '1200px'; frame.style.height = '900px';
    document.body.append(frame);
    const open = (href) => new Promise((resolve) => { frame.onload = () => resolve(frame.contentDocument); frame.src = href; });
    let doc = await open(cell.href);
    for (let i = 0; i < 100 && [...doc.images].some((im) => !im.complete); i++) await sleep(50);
    check('the unit page is the unit', doc.querySelector('h1').textContent.includes('unit ' + unit.channel), doc.title);
    const crops = [...doc.querySelectorAll('img.exemplar')];
    const k = unit.top.length + (unit.bottom ? unit.bottom.length : 0);
    check('k exemplar crops shown', crops.length === k && k > 0, [crops.length, k]);
    check('every crop decoded', crops.every(loaded), crops.filter((c) => !loaded(c)).map((c) => c.src));
    const icon = doc.querySelector('img.icon');
    check('the icon is shown', !!icon && loaded(icon), icon && icon.src);
    if (unit.diversity) {
      const set = [...doc.querySelectorAll('img.diverse')];
      check('the diversity set is shown', set.length === unit.diversity.icons.length && set.every(loaded),
        [set.length, unit.diversity.icons.length]);
    }
    if (unit.accentuated) {
      const acc = doc.querySelector('img.accentuated');
      check('the accentuated exemplar is shown', !!acc && loaded(acc), acc && acc.src);
    }
    // A crop opens the full image with its box (CSS :target, no script).
    crops[0].closest('a').click();
    await sleep(200);
    const full = doc.getElementById('t0');
    check('a crop opens the full image', !!full && frame.contentWindow.getComputedStyle(full).display !== 'none', full && full.id);
    const box = full && full.querySelector('.box');
    const frameImg = full && full.querySelector('img');
    check('the full image and its box are drawn', !!box && box.getBoundingClientRect().width > 0 && loaded(frameImg),
      box && box.getAttribute('style'));
    const heat = full && full.querySelector('img.heat');
    check('the unit\'s map lies over the full image', !!heat && loaded(heat) &&
      Math.abs(heat.getBoundingClientRect().width - frameImg.getBoundingClientRect().width) < 1, heat && heat.src);
    const next = doc.querySelector('a[rel=next]');
    if (next) {
      const pos = index.units.indexOf(unit);
      doc = await open(next.href);
      check('next opens the following unit', doc.querySelector('h1').textContent.includes('unit ' + index.units[pos + 1].channel),
        doc.title);
    }
  } catch (e) {
    failures.push('exception: ' + (e && e.stack || e));
  }
  report(true);
})();
