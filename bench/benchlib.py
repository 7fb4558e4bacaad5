"""Code the benchmark helpers share (python3 standard library only):
bench/versions/bench.py, bench/trace/trace.py and bench/archive/archive.py
import it after putting bench/ on sys.path.

  human_bytes(b)              "512 B", "1.50 KiB", ... "2.00 GiB"
  human_ns(ns)                "800 ns", "1.5 µs", "2.50 ms", "1.20 s"
  load_results(path, keys)    the "KEY...<TAB>name<TAB>value" lines that a
                              run.sh wrote, by key in order
  render(head, rows, right)   a table as aligned text and as markdown
  pop_md(args)                take "--md FILE" out of a command's arguments
  run_main(doc, commands, md_command)
                              run the command that the command line names
"""
import sys


def human_bytes(b):
    """Bytes in B (whole) or KiB, MiB, GiB (two decimals)."""
    b = float(b)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.2f} {unit}"
        b /= 1024


def human_ns(ns):
    """Nanoseconds in ns, µs, ms or s."""
    ns = float(ns)
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def load_results(path, keys=1, join_notes=True):
    """Read a results file of "KEY<TAB>name<TAB>value" lines, KEY being
    `keys` columns (a tuple of them when more than one); lines of another
    shape are skipped. Returns (order, data): the keys in the order they
    first appear and data[key] = {name: value}. A key's notes add up: joined
    by "; " under "note" (absent when none), or, without join_notes, as the
    list data[key]["note"] (empty when none)."""
    order, data = [], {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", keys + 1)
            if len(parts) != keys + 2:
                continue
            key = tuple(parts[:keys]) if keys > 1 else parts[0]
            name, value = parts[keys], parts[keys + 1]
            d = data.get(key)
            if d is None:
                d = data[key] = {} if join_notes else {"note": []}
                order.append(key)
            if name == "note":
                if not join_notes:
                    d["note"].append(value)
                    continue
                if "note" in d:
                    value = d["note"] + "; " + value
            d[name] = value
    return order, data


def render(head, rows, right, rule=True):
    """A table of string cells: (text, md), each a list of lines. Columns
    whose index is in `right` are right-aligned; the text has a line of
    dashes under the head when `rule`, and its lines no trailing blanks."""
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i])
              for i in range(len(head))]

    def fmt(cells):
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                         for i, c in enumerate(cells)).rstrip()
    text = [fmt(head)] + ([fmt(["-" * w for w in widths])] if rule else [])
    text += [fmt(r) for r in rows]
    md = ["| " + " | ".join(head) + " |",
          "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    return text, md


def pop_md(args):
    """(args without "--md FILE", FILE or None)."""
    if "--md" not in args:
        return args, None
    i = args.index("--md")
    return args[:i] + args[i + 2:], args[i + 1]


def run_main(doc, commands, md_command):
    """A helper's command line: sys.argv[1] names one of `commands` (name ->
    function), called with the other arguments, except md_command's, called
    as function(RESULTS, FILE or None) once "--md FILE" is taken out. No
    command, or an unknown one: exit with doc."""
    if len(sys.argv) < 2:
        sys.exit(doc)
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = commands.get(cmd)
    if fn is None:
        sys.exit(doc)
    if cmd == md_command:
        args, md = pop_md(args)
        return fn(args[0], md)
    return fn(*args)
