"""The ctypes declarations must match include/orbit.h: same functions, same
arity, and structs of the same size and field offsets as the C compiler sees."""

import ctypes
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from orbit import _ffi

HEADER = os.environ.get(
    "ORBIT_HEADER", os.path.join(os.path.dirname(__file__), "..", "..", "..", "include", "orbit.h")
)


def header_functions():
    text = open(HEADER).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    funcs = {}
    for m in re.finditer(r"^[\w \*]*?\b(orbit_\w+)\(([^;]*?)\);", text, flags=re.M | re.S):
        params = " ".join(m.group(2).split())
        funcs[m.group(1)] = 0 if params in ("", "void") else params.count(",") + 1
    return funcs


def test_every_header_function_is_declared_once_with_its_arity():
    funcs = header_functions()
    assert funcs, "no functions parsed from the header"
    assert set(funcs) == set(_ffi.FUNCTIONS), (
        f"missing in _ffi: {sorted(set(funcs) - set(_ffi.FUNCTIONS))}; "
        f"not in header: {sorted(set(_ffi.FUNCTIONS) - set(funcs))}"
    )
    for name, arity in funcs.items():
        assert len(_ffi.FUNCTIONS[name][1]) == arity, name


STRUCTS = {
    "orbit_fleet_options": _ffi.FleetOptions,
    "orbit_member": _ffi.Member,
    "orbit_ring_options": _ffi.RingOptions,
    "orbit_frame": _ffi.FrameC,
    "orbit_ring_info": _ffi.RingInfoC,
}
STRUCTS.update(getattr(_ffi, "EXTRA_STRUCTS", {}))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to ask for the C layout")
def test_struct_layouts_match_the_c_compiler():
    lines = ['#include <stdio.h>', '#include <stddef.h>', f'#include "{os.path.abspath(HEADER)}"', "int main(void) {"]
    for cname, py in STRUCTS.items():
        lines.append(f'printf("{cname} size %zu\\n", sizeof({cname}));')
        for field, _ in py._fields_:
            lines.append(f'printf("{cname} {field} %zu\\n", offsetof({cname}, {field}));')
    lines.append("return 0; }")
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "layout.c"), os.path.join(d, "layout")
        open(src, "w").write("\n".join(lines))
        subprocess.run(["cc", "-std=c99", src, "-o", exe], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split("\n")
    seen = {}
    for line in filter(None, out):
        cname, field, value = line.split()
        seen[(cname, field)] = int(value)
    for cname, py in STRUCTS.items():
        assert seen[(cname, "size")] == ctypes.sizeof(py), cname
        for field, _ in py._fields_:
            assert seen[(cname, field)] == getattr(py, field).offset, f"{cname}.{field}"
