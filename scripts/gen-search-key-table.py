#!/usr/bin/env python3
"""Generate `src/search/value/key_table.rs`, the per-character table behind the
string search key (`crate::search::value::normalize`).

The key of a string is the concatenation of the keys of its characters. The key
of one character is found by repeating "full compatibility decomposition (NFKD),
then full case folding (CaseFolding.txt statuses C and F)" until nothing
changes, and then deleting every combining mark: general category Mn or Me, or
a canonical combining class other than 0. Because every character with a
non-zero combining class is deleted, the canonical reordering step of NFKD
cannot change the result, which is what makes a per-character table exact.

Input is the Unicode Character Database as Debian's `unicode-data` package
installs it (`apt-get install unicode-data`, files in /usr/share/unicode), or
any directory holding `UnicodeData.txt` and `CaseFolding.txt`:

    scripts/gen-search-key-table.py [UCD_DIR]          write the table
    scripts/gen-search-key-table.py [UCD_DIR] --check  compare with the committed one

The script checks its own decomposition and folding against Python's
`unicodedata` and `str.casefold` for every character that Python's (older or
newer) database also assigns, and checks that every key is stable (a key's key
is itself). Hangul syllables are left out of the table: their decomposition is
algorithmic and done in code.
"""
import pathlib
import re
import sys
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "search" / "value" / "key_table.rs"

S_BASE, L_BASE, V_BASE, T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
V_COUNT, T_COUNT = 21, 28
S_COUNT = 19 * V_COUNT * T_COUNT


def load(ucd):
    gc, ccc, decomp = {}, {}, {}
    first = None
    for line in (ucd / "UnicodeData.txt").read_text(encoding="utf-8").splitlines():
        f = line.split(";")
        cp = int(f[0], 16)
        if f[1].endswith(", First>"):
            first = cp
            continue
        if f[1].endswith(", Last>"):
            for c in range(first, cp + 1):
                gc[c] = f[2]
                ccc[c] = int(f[3])
            continue
        gc[cp] = f[2]
        ccc[cp] = int(f[3])
        if f[5]:
            parts = f[5].split()
            if parts[0].startswith("<"):
                parts = parts[1:]
            decomp[cp] = [int(p, 16) for p in parts]
    fold = {}
    for line in (ucd / "CaseFolding.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        code, status, mapping = [x.strip() for x in line.split(";")[:3]]
        if status in ("C", "F"):
            fold[int(code, 16)] = [int(p, 16) for p in mapping.split()]
    version = None
    head = (ucd / "CaseFolding.txt").read_text(encoding="utf-8").splitlines()[0]
    m = re.search(r"CaseFolding-(\d+\.\d+\.\d+)\.txt", head)
    if m:
        version = m.group(1)
    if version is None:
        sys.exit("cannot read the Unicode version from CaseFolding.txt")
    return gc, ccc, decomp, fold, version


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    check = "--check" in sys.argv[1:]
    ucd = pathlib.Path(args[0] if args else "/usr/share/unicode")
    gc, ccc, decomp, fold, version = load(ucd)

    def hangul(cp):
        s = cp - S_BASE
        out = [L_BASE + s // (V_COUNT * T_COUNT), V_BASE + (s % (V_COUNT * T_COUNT)) // T_COUNT]
        if s % T_COUNT:
            out.append(T_BASE + s % T_COUNT)
        return out

    def full_decomp(cp):
        if S_BASE <= cp < S_BASE + S_COUNT:
            return hangul(cp)
        if cp not in decomp:
            return [cp]
        out = []
        for d in decomp[cp]:
            out.extend(full_decomp(d))
        return out

    def nfkd(cps):
        out = []
        for c in cps:
            out.extend(full_decomp(c))
        return out

    def casefold(cps):
        out = []
        for c in cps:
            out.extend(fold.get(c, [c]))
        return out

    def is_mark(c):
        return gc.get(c, "Cn") in ("Mn", "Me") or ccc.get(c, 0) != 0

    def step(cps):
        return nfkd(casefold(nfkd(cps)))

    def key(cp):
        cur = [cp]
        for _ in range(10):
            nxt = step(cur)
            if nxt == cur:
                break
            cur = nxt
        else:
            sys.exit(f"U+{cp:04X}: no fixed point")
        return [c for c in cur if not is_mark(c)]

    stripped, mapped = [], []
    mismatches = 0
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or S_BASE <= cp < S_BASE + S_COUNT:
            continue
        k = key(cp)
        # Stability: the key of a key is itself.
        if [c for c in step(k) if not is_mark(c)] != k:
            sys.exit(f"U+{cp:04X}: key is not stable")
        # Cross-check with Python's own database where it knows the character.
        if unicodedata.category(chr(cp)) != "Cn" and gc.get(cp, "Cn") != "Cn":
            s = chr(cp)
            for _ in range(10):
                t = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", s).casefold())
                if t == s:
                    break
                s = t
            py = [ord(c) for c in s if not is_mark(ord(c))]
            if py != k:
                mismatches += 1
                print(f"differs from Python: U+{cp:04X} {py} {k}", file=sys.stderr)
        if k == [cp]:
            continue
        if not k:
            if stripped and stripped[-1][1] == cp - 1:
                stripped[-1][1] = cp
            else:
                stripped.append([cp, cp])
        else:
            mapped.append((cp, k))
    if mismatches:
        sys.exit(f"{mismatches} characters differ from Python's unicodedata")

    def lit(cps):
        out = []
        for c in cps:
            ch = chr(c)
            if ch.isascii() and (ch.isalnum() or ch in " !#$%&'()*+,-./:;<=>?@[]^_`{|}~"):
                out.append(ch)
            else:
                out.append("\\u{%X}" % c)
        return '"' + "".join(out) + '"'

    lines = [
        "//! The per-character table behind the string search key (generated; do not edit).",
        "//!",
        f"//! Made by `scripts/gen-search-key-table.py` from the Unicode Character Database {version}",
        "//! (`UnicodeData.txt`, `CaseFolding.txt`): for each character, full compatibility",
        "//! decomposition and full case folding (statuses C and F) repeated to a fixed point, then",
        "//! every combining mark (general category Mn or Me, or canonical combining class not 0)",
        "//! deleted. Hangul syllables are decomposed in code and are not listed.",
        "",
        "/// The version of the Unicode Character Database the tables were made from.",
        f'pub(super) const UNICODE_VERSION: &str = "{version}";',
        "",
        "/// Inclusive code point ranges whose key is empty (combining marks), sorted.",
        "pub(super) static STRIPPED: &[(u32, u32)] = &[",
    ]
    for a, b in stripped:
        lines.append(f"    (0x{a:04X}, 0x{b:04X}),")
    lines += [
        "];",
        "",
        "/// Code points whose key is another string, sorted by code point.",
        "pub(super) static MAPPED: &[(u32, &str)] = &[",
    ]
    for cp, k in mapped:
        line = f"    (0x{cp:04X}, {lit(k)}),"
        if len(line) > 100:
            # As rustfmt lays out a tuple wider than its 100 columns.
            line = f"    (\n        0x{cp:04X},\n        {lit(k)},\n    ),"
        lines.append(line)
    lines += ["];", ""]
    text = "\n".join(lines)
    if check:
        if OUT.read_text(encoding="utf-8") != text:
            sys.exit(f"{OUT} is not what the script makes")
        print(f"{OUT.name} is up to date ({len(stripped)} ranges, {len(mapped)} mappings)")
        return
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(stripped)} stripped ranges, {len(mapped)} mappings, Unicode {version})")


if __name__ == "__main__":
    main()
