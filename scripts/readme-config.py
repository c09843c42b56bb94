#!/usr/bin/env python3
"""Rewrites the configuration table of README.md from the VARS table of
src/config.rs (a test checks that every variable is in the README)."""
import re
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
src = (root / "src/config.rs").read_text()
start = src.index("vars! {")
block = src[start:src.index("}\n", start)]
rows = re.findall(r'^\s*"(SB_[A-Z0-9_]+)" = "(.*?)" : "(.*?)";\s*$', block, re.M)
lines = []
for env, default, help_ in rows:
    flag = "--" + env[3:].lower().replace("_", "-")
    d = f"`{default}`" if default else "(unset)"
    h = help_.replace("`", "").replace("|", "\\|")
    lines.append(f"| `{env}` | `{flag}` | {d} | {h} |")
readme = root / "README.md"
ls = readme.read_text().split("\n")
idx = [i for i, l in enumerate(ls) if re.match(r"\| `SB_[A-Z0-9_]+` \|", l)]
ls[idx[0]:idx[-1] + 1] = lines
readme.write_text("\n".join(ls))
