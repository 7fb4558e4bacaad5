#!/usr/bin/env python3
"""Helper of the archive benchmark (bench/archive/run.sh).

  archive.py versions PKG COUNT UPTO
      print, one a line and oldest first, the COUNT consecutive stable
      (x.y.z) versions of npm package PKG that end at version UPTO
      ("latest": the package's latest dist-tag if it is stable, else its
      newest stable version)
  archive.py median
      read integers, one a line, on standard input; print their median
      (the mean of the two middle ones for an even count, rounded down)
  archive.py table RESULTS.tsv [--md FILE]
      print the results table and the summary of the targets; with --md
      also append them, as markdown, to FILE

RESULTS.tsv holds "row<TAB>name<TAB>value" lines written by run.sh; the row
"_info" carries settings (raw_bytes, k, desc, ...), every other row is a
tool. Rows keep the order in which they first appear.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
from benchlib import human_bytes, load_results, render  # noqa: E402  (bench/benchlib.py)


def die(msg):
    sys.exit("archive.py: " + msg)


def vkey(v):
    return tuple(int(x) for x in v.split("."))


def stable(v):
    return re.fullmatch(r"\d+\.\d+\.\d+", v) is not None


def npm_view(pkg, field):
    r = subprocess.run(["npm", "view", pkg, field, "--json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        die(f"npm view {pkg} {field} failed: {r.stderr.strip()[:300]}")
    return json.loads(r.stdout)


def cmd_versions(pkg, count, upto):
    count = int(count)
    versions = npm_view(pkg, "versions")
    if isinstance(versions, str):
        versions = [versions]
    vs = sorted({v for v in versions if stable(v)}, key=vkey)
    if not vs:
        die(f"{pkg} has no stable x.y.z version")
    if upto == "latest":
        latest = npm_view(pkg, "dist-tags").get("latest", "")
        upto = latest if stable(latest) else vs[-1]
    if upto not in vs:
        die(f"{pkg}@{upto} is not a published stable version")
    vs = vs[:vs.index(upto) + 1]
    if len(vs) < count:
        die(f"{pkg} has only {len(vs)} stable versions up to {upto}, "
            f"{count} wanted")
    print("\n".join(vs[-count:]))


def cmd_median():
    xs = sorted(int(x) for x in sys.stdin.read().split())
    if not xs:
        print("")
        return
    n = len(xs)
    m = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) // 2
    print(m)


def num(r, name):
    v = r.get(name, "")
    try:
        return float(v)
    except ValueError:
        return None


def cmd_table(path, md):
    order, rows = load_results(path, join_notes=False)
    info = rows.get("_info", {"note": []})
    tools = [r for r in order if r != "_info"]
    raw = num(info, "raw_bytes")
    k = info.get("k", "?")
    ref_row = info.get("ref_row", "zstd -19 --long=31")
    ref = num(rows.get(ref_row, {}), "stored") if ref_row in rows else None

    head = ["tool", "stored", "strata packs", "raw/stored",
            "stored/zstd-long", "marginal/unit", "ingest s", "MB/s",
            "peak RSS", f"restore unit {k} s", "restore check"]
    right = set(range(1, 10))  # all but the first and the last column
    table = []
    for name in tools:
        r = rows[name]
        if r.get("skipped"):
            table.append([name] + ["-"] * 9 + ["not run: " + r["skipped"]])
            continue
        stored = num(r, "stored")
        ingest = num(r, "ingest_s")
        rss = num(r, "rss_kb")
        marg = num(r, "marginal")
        packs = num(r, "packs")
        rest = num(r, "restore_s")
        cells = [
            name,
            human_bytes(stored) if stored is not None else "-",
            human_bytes(packs) if packs is not None else "-",
            f"{raw / stored:.2f}" if stored and raw else "-",
            f"{stored / ref:.3f}" if stored and ref else "-",
            human_bytes(marg) if marg is not None else "n/a",
            f"{ingest:.2f}" if ingest is not None else "-",
            f"{raw / 1e6 / ingest:.1f}" if ingest and raw else "-",
            human_bytes(rss * 1024) if rss is not None else "-",
            f"{rest:.2f}" if rest is not None else "-",
            r.get("check", "-"),
        ]
        table.append(cells)

    summary = summarize(rows, tools, ref_row)

    notes = []
    for name in tools:
        for n in rows[name]["note"]:
            notes.append(f"{name}: {n}")

    text, mdlines = render(head, table, right, rule=False)
    print("\n".join(text))
    print()
    print("Targets:")
    for s in summary:
        print("  " + s)
    if notes:
        print()
        print("Notes:")
        for n in notes:
            print("  " + n)
    if md:
        with open(md, "a") as f:
            f.write("\n".join(mdlines) + "\n\n")
            f.write("Targets:\n\n")
            for s in summary:
                if s.startswith("  "):
                    f.write(f"  * {s.strip()}\n")
                else:
                    f.write(f"* {s}\n")
            if notes:
                f.write("\nNotes:\n\n")
                for n in notes:
                    f.write(f"* {n}\n")
            f.write("\n")


def summarize(rows, tools, ref_row):
    out = []
    ref = num(rows.get(ref_row, {}), "stored") if ref_row in rows else None
    peers = [t for t in tools
             if t.split()[0] in ("borg", "restic", "zpaq")
             and num(rows[t], "stored") and not rows[t].get("failed")]
    best = min(peers, key=lambda t: num(rows[t], "stored")) if peers else None
    borg = next((t for t in tools if t.split()[0] == "borg"
                 and num(rows[t], "ingest_s")), None)
    info = rows.get("_info", {})
    raw = num(info, "raw_bytes")
    s = rows.get("strata")
    have = s is not None and not s.get("skipped") and num(s, "stored")

    def verdict(ok):
        return "met" if ok else "MISSED"

    if have:
        st = num(s, "stored")
        if ref:
            x = st / ref
            out.append(f"strata total / {ref_row}: {x:.3f} "
                       f"(target <= 1.25: {verdict(x <= 1.25)})")
        if best:
            x = st / num(rows[best], "stored")
            out.append(f"strata total / min(borg, restic, zpaq) "
                       f"[{best}]: {x:.3f} (target <= 0.25: "
                       f"{verdict(x <= 0.25)})")
        if borg and num(s, "ingest_s"):
            x = num(rows[borg], "ingest_s") / num(s, "ingest_s")
            out.append(f"strata ingest MB/s / {borg} ingest MB/s: {x:.2f} "
                       f"(target >= 1: {verdict(x >= 1)})")
        if num(s, "rss_kb") is not None:
            out.append(f"strata peak RSS: {human_bytes(num(s, 'rss_kb') * 1024)}")
    else:
        why = s.get("skipped") if s else "not in TOOLS"
        out.append(f"strata: not run ({why}); what the targets ask of it "
                   f"on these data:")
        if ref:
            out.append(f"  total <= 1.25 x {ref_row} = "
                       f"{human_bytes(1.25 * ref)} ({1.25 * ref:.0f} bytes)")
        if best:
            b = num(rows[best], "stored")
            out.append(f"  total <= 0.25 x min(borg, restic, zpaq) "
                       f"[{best}] = {human_bytes(0.25 * b)} ({0.25 * b:.0f} bytes)")
        if borg and raw:
            out.append(f"  ingest >= {borg}: "
                       f"{raw / 1e6 / num(rows[borg], 'ingest_s'):.1f} MB/s")
    return out


def main(argv):
    if len(argv) >= 4 and argv[0] == "versions":
        cmd_versions(argv[1], argv[2], argv[3])
    elif argv[:1] == ["median"]:
        cmd_median()
    elif len(argv) >= 2 and argv[0] == "table":
        md = None
        if len(argv) >= 4 and argv[2] == "--md":
            md = argv[3]
        cmd_table(argv[1], md)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
