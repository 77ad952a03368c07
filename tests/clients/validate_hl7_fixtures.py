"""Validates the HL7 v2 fixture messages (tests/fixtures/hl7/*.hl7) with
hl7apy (written against 1.3.5) under strict validation.

Usage: python3 tests/clients/validate_hl7_fixtures.py [folder]
(default folder: ../fixtures/hl7 relative to this script).

Every file is parsed with
    hl7apy.parser.parse_message(text, validation_level=VALIDATION_LEVEL.STRICT,
                                find_groups=True)
and then checked with Message.validate(). The structure named in MSH-9.3
and the version in MSH-12 are what hl7apy uses. On top of that, this
script checks what hl7apy 1.3.5 lets through silently:

* the file is UTF-8, its segments end with a carriage return only (no line
  feeds, no empty segments), and any non-ASCII text has MSH-18
  "UNICODE UTF-8";
* MSH-9 has all three components, the structure exists in hl7apy's library
  for that version (otherwise parse_message quietly builds a message with
  no structure) and, for the events listed in EVENT_STRUCTURE, is the
  structure HL7 assigns to that event;
* every segment in the file ends up in the parsed tree (when a segment does
  not fit the structure, hl7apy drops it without any error), and, within
  each group, segments and groups come in the order the structure gives
  (hl7apy places segments by name only);
* MSH-10 is unique across the folder;
* value checks: OBX-5 is parsed as the datatype named in OBX-2 (hl7apy
  types OBX-5 as "varies" and does not look at OBX-2); a coded value
  (CE/CWE/CNE) that names an HL7 table as its coding system (HL7nnnn)
  uses a code of that table; an ID value with an HL7 table is in that
  table (gaps of hl7apy's tables are listed in ID_TABLE_EXTRAS and
  ID_TABLES_NOT_CHECKED).

Files whose name starts with "bad_" are wrong in content on purpose: they
must still parse, fit their structure and pass the structural checks, and
are reported "ok" when a value-level error is found (the error is named
on the line); a bad_ file without any value-level error fails.

Prints one line per file ("ok <file>" or "FAIL <file>: reason"), the bad_
files last, then "N passed, N failed"; exits 1 if any file failed.
Option --warnings also prints hl7apy's own validation warnings (table and
length checks of Message.validate(report_file=...)) to stderr.
"""

import os
import re
import sys
import tempfile
from decimal import Decimal

from hl7apy import get_default_encoding_chars, load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Field
from hl7apy.exceptions import (ChildNotFound, InvalidDateFormat, InvalidDateOffset, InvalidMicrosecondsPrecision,
                               MaxLengthReached, UnsupportedVersion)
from hl7apy.parser import parse_components, parse_message
from hl7apy.validation import Validator

# HL7 v2.5.1 / v2.6 chapters 3, 4, 7 and 10: trigger event -> message structure.
EVENT_STRUCTURE = {
    ("ADT", "A01"): "ADT_A01", ("ADT", "A04"): "ADT_A01", ("ADT", "A08"): "ADT_A01",
    ("ADT", "A28"): "ADT_A05", ("ADT", "A31"): "ADT_A05", ("ADT", "A40"): "ADT_A39",
    ("SIU", "S12"): "SIU_S12", ("SIU", "S13"): "SIU_S12", ("SIU", "S14"): "SIU_S12",
    ("SIU", "S15"): "SIU_S12", ("SIU", "S17"): "SIU_S12", ("SIU", "S26"): "SIU_S12",
    ("ORU", "R01"): "ORU_R01", ("OMB", "O27"): "OMB_O27", ("BPS", "O29"): "BPS_O29",
    ("BTS", "O31"): "BTS_O31",
}

# Values missing from hl7apy 1.3.5's copies of HL7 tables although the
# standard has them.
ID_TABLE_EXTRAS = {
    "HL70125": {"CWE", "CNE"},  # value types CWE/CNE are in table 0125 of v2.5.1 and v2.6
}
# Table 0396 (coding systems): hl7apy's copy predates SCT, UCUM, ISO639, MDC
# and the HL7nnnn names, and local systems are allowed by the standard.
ID_TABLES_NOT_CHECKED = {"HL70396"}

VALUE_ERRORS = (ValueError, MaxLengthReached, InvalidDateFormat, InvalidDateOffset, InvalidMicrosecondsPrecision)
NM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class StructureError(Exception):
    pass


class ContentError(Exception):
    pass


def describe(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def walk(el):
    yield el
    if el.classname != "SubComponent":
        for c in el.children:
            yield from walk(c)


def raw_checks(path):
    """File-level checks. Returns (text, segment names, MSH fields)."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StructureError("not UTF-8: %s" % e)
    if "\n" in text:
        raise StructureError("contains a line feed; segments must be separated by carriage returns only")
    if not text.startswith("MSH|^~\\&|"):
        raise StructureError("does not start with MSH|^~\\&|")
    if not text.endswith("\r"):
        raise StructureError("last segment is not terminated by a carriage return")
    segments = text[:-1].split("\r")
    for i, s in enumerate(segments, 1):
        if not re.match(r"^[A-Z][A-Z0-9]{2}\|", s):
            raise StructureError("segment %d is empty or has no valid segment id: %r" % (i, s[:20]))
    msh = segments[0].split("|")
    # msh[0] is "MSH", msh[1] the encoding characters (MSH-2), msh[k] is MSH-(k+1)
    fields = {k + 1: v for k, v in enumerate(msh) if k >= 1}
    charset = fields.get(18, "")
    if any(ord(ch) > 127 for ch in text) and charset.split("~")[0] != "UNICODE UTF-8":
        raise StructureError("non-ASCII text but MSH-18 is %r, not 'UNICODE UTF-8'" % charset)
    return text, [s[:3] for s in segments], fields


def header_checks(fields):
    msh9 = fields.get(9, "").split("^")
    if len(msh9) != 3 or not all(msh9):
        raise StructureError("MSH-9 must be TYPE^EVENT^STRUCTURE, got %r" % fields.get(9, ""))
    version = fields.get(12, "").split("^")[0]
    try:
        load_reference(msh9[2], "Message", version)
    except UnsupportedVersion:
        raise StructureError("hl7apy does not support version %r (MSH-12)" % version)
    except ChildNotFound:
        raise StructureError("hl7apy has no message structure %s in version %s" % (msh9[2], version))
    expected = EVENT_STRUCTURE.get((msh9[0], msh9[1]))
    if expected and expected != msh9[2]:
        raise StructureError("MSH-9 %s^%s has structure %s, not %s" % (msh9[0], msh9[1], expected, msh9[2]))
    if not fields.get(10):
        raise StructureError("MSH-10 is empty")
    return msh9[2], version


def structure_checks(msg, structure, seg_names):
    if msg.name != structure:
        raise StructureError("parsed as %r instead of %s" % (msg.name, structure))
    placed = [e.name for e in walk(msg) if e.classname == "Segment"]
    if placed != seg_names:
        missing = list(seg_names)
        for n in placed:
            if n in missing:
                missing.remove(n)
        raise StructureError("segments not placed in %s (dropped by hl7apy): %s; parsed order %s"
                             % (structure, missing or "-", "/".join(placed)))
    for el in walk(msg):
        if el.classname not in ("Message", "Group"):
            continue
        names = [c[0] for c in el.reference[1]]
        pos = 0
        for child in el.children:
            try:
                pos = names.index(child.name, pos)
            except ValueError:
                raise StructureError("%s is out of order in %s (expected order: %s)"
                                     % (child.name, el.name, " ".join(names)))
    report = tempfile.NamedTemporaryFile(suffix=".txt", delete=False)
    report.close()
    try:
        try:
            msg.validate(report_file=report.name)
        except Exception as e:
            raise StructureError("validate(): " + describe(e))
        with open(report.name, encoding="utf-8") as fh:
            warnings = [line.rstrip("\n") for line in fh if line.startswith("Warning")]
    finally:
        os.unlink(report.name)
    return warnings


def table_values(table, version):
    try:
        return set(load_reference(table, "Table", version)[1])
    except ChildNotFound:
        return None


def check_value_as(datatype, text, version, where):
    try:
        f = Field("ZZZ_1", datatype=datatype, version=version, validation_level=VALIDATION_LEVEL.STRICT)
        f.children = parse_components(text, f.datatype, version, get_default_encoding_chars(version),
                                      VALIDATION_LEVEL.STRICT, f.structure_by_name)
        Validator.validate(f)
    except Exception as e:
        raise ContentError("%s %r is not a valid %s: %s" % (where, text, datatype, describe(e)))
    numbers = []
    if datatype == "NM":
        numbers = [text]
    elif datatype == "SN":
        parts = text.split("^")
        if parts[0] not in ("", ">", "<", ">=", "<=", "=", "<>"):
            raise ContentError("%s %r: SN comparator %r is not one of > < >= <= = <>" % (where, text, parts[0]))
        numbers = [p for i, p in enumerate(parts) if i in (1, 3) and p]
    for n in numbers:
        if not NM_RE.match(n):
            raise ContentError("%s %r: %r is not an HL7 number" % (where, text, n))
        Decimal(n)


def content_checks(msg, version):
    """Value-level checks that hl7apy does not make."""
    for el in walk(msg):
        if el.classname == "Segment" and el.name == "OBX":
            obx2 = el.obx_2.to_er7() if el.obx_2 else ""
            values = [f.to_er7() for f in el.obx_5] if el.obx_5 else []
            values = [v for v in values if v]
            setid = el.obx_1.to_er7() if el.obx_1 else "?"
            if values and not obx2:
                raise ContentError("OBX %s has a value but no value type (OBX-2)" % setid)
            for v in values:
                check_value_as(obx2, v, version, "OBX %s OBX-5" % setid)
        elif el.classname in ("Field", "Component") and el.datatype in ("CE", "CWE", "CNE"):
            comps = {c.name: c.to_er7() for c in el.children}
            dt = el.datatype
            for code_c, sys_c in ((1, 3), (4, 6)):
                system = comps.get("%s_%d" % (dt, sys_c), "")
                code = comps.get("%s_%d" % (dt, code_c), "")
                if code and re.match(r"^HL7\d{4}$", system):
                    allowed = table_values(system, version)
                    if allowed is not None and code not in allowed:
                        raise ContentError("%s: code %r is not in %s (allowed: %s)"
                                           % (el.name, code, system, " ".join(sorted(allowed))))
        elif el.classname in ("Field", "Component") and el.datatype == "ID" and getattr(el, "table", None):
            table = el.table
            value = el.to_er7()
            if not value or table in ID_TABLES_NOT_CHECKED:
                continue
            allowed = table_values(table, version)
            if allowed is not None and value not in allowed and value not in ID_TABLE_EXTRAS.get(table, ()):
                raise ContentError("%s %r is not in table %s" % (el.name, value, table))


def check_file(path, bad, seen_ids):
    """Returns (ok, note)."""
    text, seg_names, fields = raw_checks(path)
    structure, version = header_checks(fields)
    ctrl = fields[10]
    if ctrl in seen_ids:
        raise StructureError("MSH-10 %r is also used by %s" % (ctrl, seen_ids[ctrl]))
    seen_ids[ctrl] = os.path.basename(path)

    value_error = None
    try:
        msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    except VALUE_ERRORS as e:
        if not bad:
            raise ContentError("strict parse: " + describe(e))
        value_error = "strict parse: " + describe(e)
        # the structure is still checked: parse again, values untyped
        try:
            msg = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
        except Exception as e2:
            raise StructureError("tolerant parse: " + describe(e2))
    except Exception as e:
        raise StructureError("strict parse: " + describe(e))

    warnings = structure_checks(msg, structure, seg_names)
    if value_error is None:
        try:
            content_checks(msg, version)
        except ContentError as e:
            if not bad:
                raise
            value_error = str(e)
    if bad and value_error is None:
        raise ContentError("bad_ fixture, but no value-level error was found")
    return warnings, value_error


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    show_warnings = "--warnings" in argv[1:]
    here = os.path.dirname(os.path.abspath(__file__))
    folder = args[0] if args else os.path.join(here, "..", "fixtures", "hl7")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".hl7"))
    good = [f for f in files if not f.startswith("bad_")]
    bad = [f for f in files if f.startswith("bad_")]
    passed = failed = 0
    seen_ids = {}
    for name in good + bad:
        is_bad = name.startswith("bad_")
        try:
            warnings, value_error = check_file(os.path.join(folder, name), is_bad, seen_ids)
        except (StructureError, ContentError) as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
            continue
        except Exception as e:  # anything unexpected counts as a failure too
            failed += 1
            print("FAIL %s: unexpected %s" % (name, describe(e)))
            continue
        passed += 1
        if is_bad:
            print("ok %s (bad fixture, value error as intended: %s)" % (name, value_error))
        else:
            print("ok %s" % name)
        if show_warnings:
            for w in warnings:
                print("  %s: %s" % (name, w), file=sys.stderr)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
