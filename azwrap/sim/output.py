"""What a command prints: --query, then the output format."""
import json
import re
import sys

from .core import AzError


def apply_query(result, query):
    """Small JMESPath subset: dotted names, [N] and [] projection, and a multiselect list [a, b.c]."""
    many = re.fullmatch(r"\s*\[([^\[\]]*,[^\[\]]*)\]\s*", query)
    if many:
        return None if result is None else [apply_query(result, part.strip()) for part in many.group(1).split(",")]
    tokens = re.findall(r"[A-Za-z_][\w\-]*|\[\d*\]|\.", query)
    if "".join(tokens) != query.replace(" ", ""):
        raise AzError("argument --query: az-sim supports only a.b, a[0], a[].b and [a, b] query expressions", 2)

    def step(val, toks):
        if not toks:
            return val
        t, rest = toks[0], toks[1:]
        if t == ".":
            return step(val, rest)
        if t == "[]":
            return [step(v, rest) for v in val] if isinstance(val, list) else None
        if t.startswith("["):
            idx = int(t[1:-1])
            return step(val[idx], rest) if isinstance(val, list) and -len(val) <= idx < len(val) else None
        return step(val.get(t), rest) if isinstance(val, dict) else None
    return step(result, tokens)


def render(result, fmt):
    if fmt == "none" or result is None:
        return ""
    if fmt in ("json", "jsonc"):
        return json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if fmt == "tsv":
        rows = result if isinstance(result, list) else [result]
        lines = []
        for r in rows:
            if isinstance(r, dict):
                lines.append("\t".join("" if v is None else str(v) for k, v in sorted(r.items())
                                       if not isinstance(v, (dict, list))))
            else:
                lines.append("" if r is None else str(r).lower() if isinstance(r, bool) else str(r))
        return "\n".join(lines) + "\n"
    if fmt in ("yaml", "yamlc"):
        def y(v, ind=0):
            pad = " " * ind
            if isinstance(v, dict):
                return "".join("{}{}:{}".format(pad, k, "\n" + y(x, ind + 2) if isinstance(x, (dict, list)) and x
                                               else " " + json.dumps(x) + "\n") for k, x in sorted(v.items()))
            if isinstance(v, list):
                return "".join("{}- {}".format(pad, y(x, ind + 2).lstrip() if isinstance(x, (dict, list))
                                               else json.dumps(x) + "\n") for x in v)
            return pad + json.dumps(v) + "\n"
        return y(result)
    # table: scalar columns only, like az's default table transformer (not JSON!)
    rows = result if isinstance(result, list) else [result]
    if not rows or not all(isinstance(r, dict) for r in rows):
        return "Result\n------\n" + "\n".join(str(r) for r in rows) + "\n"
    cols = [k for k in rows[0] if not isinstance(rows[0][k], (dict, list))]
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    heads = [c[0].upper() + c[1:] for c in cols]
    widths = [max([len(h)] + [len(row[j]) for row in cells]) for j, h in enumerate(heads)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    return "\n".join([line(heads), line(["-" * w for w in widths])] + [line(r) for r in cells]) + "\n"


def print_error(err):
    sys.stderr.write("ERROR: {}\n".format(err.msg))
    for line in err.extra:
        sys.stderr.write(line + "\n")
