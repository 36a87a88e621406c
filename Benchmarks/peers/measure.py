"""Running the peers and Atlas as separate processes, and printing their figures (imported, not run).

  from measure import run_json, best_rate, print_table
  rate = best_rate(3, lambda: run_json(cmd)["images_per_second"])
"""
import json, shlex, shutil, subprocess, time


class SideFailed(Exception):
    """A side's command failed; the message is the last lines it wrote to stderr."""


def _run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        tail = [l for l in (p.stderr or p.stdout).strip().splitlines() if l.strip()][-3:]
        raise SideFailed(f"exit {p.returncode}: " + " | ".join(tail))
    return p.stdout


def run_json(cmd):
    """Runs `cmd` and parses the JSON object on its stdout (text before the first '{' is ignored)."""
    out = _run(cmd)
    return json.loads(out[out.index("{"):])


def run_timed(cmd, clean=None):
    """Wall-clock seconds of `cmd`, from process start to exit; `clean` (a folder) is removed first."""
    if clean:
        shutil.rmtree(clean, ignore_errors=True)
    t = time.perf_counter()
    _run(cmd)
    return time.perf_counter() - t


def best_rate(repeats, rate):
    """The best (largest) of `repeats` calls of `rate()`."""
    return max(rate() for _ in range(repeats))


def side(record, key, fn):
    """record[key] = fn(), or record[key + '_error'] = why it failed (the driver goes on)."""
    try:
        record[key] = fn()
    except (SideFailed, ValueError, KeyError) as e:
        record[key] = None
        record[key + "_error"] = str(e)


def command_line(cmd):
    return " ".join(shlex.quote(str(c)) for c in cmd)


def ratio(a, b):
    return a / b if a is not None and b else None


def print_table(title, columns, rows, note=None):
    """columns: (header, key or function of the row, format). Missing figures print as '—'; a row's errors
    are listed under the table."""
    print(f"\n{title}")
    cells = []
    for r in rows:
        line = []
        for _, key, fmt in columns:
            v = key(r) if callable(key) else r.get(key)
            line.append("—" if v is None else format(v, fmt))
        cells.append(line)
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _, _) in enumerate(columns)]
    print("  ".join(h.rjust(w) for (h, _, _), w in zip(columns, widths)))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))
    for r in rows:
        for k, v in r.items():
            if k.endswith("_error"):
                print(f"  FAILED {r.get('model', '')} {r.get('label', '')} {k[:-6]}: {v}")
    if note:
        print(note)
