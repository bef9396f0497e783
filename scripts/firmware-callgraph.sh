#!/usr/bin/env bash
# Static call graph of a linked Cortex-M ELF (from rust-objdump and rust-nm), for the
# firmware checks:
#   firmware-callgraph.sh panic-check ELF   fails (exit 1) if a panic symbol is reachable
#                                           from the runtime's functions, printing the path
#   firmware-callgraph.sh size ELF          code size of the runtime: its named symbols,
#                                           and everything reachable from them
#   firmware-callgraph.sh ranges ELF ROOT   "lo hi shared name" of each function reachable
#                                           from ROOT (shared: also called from outside)
# Direct branches (b, bl, cbz, ...) make the edges; an indirect call in the reachable code
# makes panic-check fail too, since its target cannot be followed.
set -euo pipefail
exec python3 - "$@" <<'EOF'
import re, subprocess, sys
from collections import deque

def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

def functions(elf):
    """[(lo, hi, mangled, demangled)] for every sized code symbol."""
    plain = run("rust-nm", "-S", "--defined-only", elf).splitlines()
    nice = run("rust-nm", "-S", "--defined-only", "-C", elf).splitlines()
    out = []
    for a, b in zip(plain, nice):
        pa, pb = a.split(None, 3), b.split(None, 3)
        if len(pa) < 4 or pa[0] != pb[0] or pa[2] not in "tTwW":
            continue
        lo, size = int(pa[0], 16) & ~1, int(pa[1], 16)
        if size:
            out.append((lo, lo + size, pa[3], pb[3]))
    return sorted(out)

BRANCH = re.compile(r"^(bl|blx|b|b\.w|b\.n|cbz|cbnz|b(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)(\.w|\.n)?)$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")

def graph(elf):
    funcs = functions(elf)
    starts = [f[0] for f in funcs]
    import bisect
    def owner(addr):
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and funcs[i][0] <= addr < funcs[i][1]:
            return i
        return None
    edges = {i: set() for i in range(len(funcs))}
    indirect = {i: [] for i in range(len(funcs))}
    for line in run("rust-objdump", "-d", "--no-show-raw-insn", elf).splitlines():
        m = INSN.match(line)
        if not m:
            continue
        addr, op, args = int(m.group(1), 16), m.group(2), m.group(3)
        src = owner(addr)
        if src is None:
            continue
        if BRANCH.match(op):
            t = re.search(r"0x([0-9a-f]+)", args)
            if t is None:  # blx rN
                indirect[src].append(f"{addr:#x}: {op} {args}")
                continue
            dst = owner(int(t.group(1), 16))
            if dst is not None and dst != src:
                edges[src].add(dst)
        elif op == "bx" and not args.startswith("lr"):
            indirect[src].append(f"{addr:#x}: {op} {args}")
        elif op in ("mov", "ldr", "ldr.w") and re.search(r"\bpc\b", args.split(",")[0]):
            # pc as the destination is a jump; `ldr rN, [pc, #k]` (a literal-pool load) is
            # not. (`pop {..., pc}` and `ldm` into pc are returns.)
            indirect[src].append(f"{addr:#x}: {op} {args}")
    return funcs, edges, indirect

def reach(edges, roots):
    parent = {r: None for r in roots}
    queue = deque(roots)
    while queue:
        f = queue.popleft()
        for g in edges[f]:
            if g not in parent:
                parent[g] = f
                queue.append(g)
    return parent

RUNTIME_ROOTS = ("tinymlp_predict_digit", "tinymlp_load_model",
                 "tinymlp_predict_features_int8", "tinymlp_predict_features_f32")

# The kernel self-check's report callback is the firmware's code (it logs through defmt),
# compiled under the runtime's name: the check runs once at boot, never during inference.
CALLER_CODE = re.compile(r"^tinymlp::kernels::check::run::.*closure")

def runtime_roots(funcs):
    return [i for i, f in enumerate(funcs)
            if (f[2] in RUNTIME_ROOTS or f[3].startswith("tinymlp::") or f[3].startswith("<tinymlp::"))
            and not CALLER_CODE.search(f[3])]

PANIC = re.compile(r"core::panicking|rust_begin_unwind|panic_bounds_check|slice_(start_|end_)?index|unwrap_failed|expect_failed|core::panic::|core::result::unwrap|core::option::unwrap")

def main():
    cmd, elf = sys.argv[1], sys.argv[2]
    funcs, edges, indirect = graph(elf)
    if cmd == "panic-check":
        roots = runtime_roots(funcs)
        named = [funcs[r][3] for r in roots]
        if not any(n in RUNTIME_ROOTS for n in named):
            sys.exit(f"no runtime entry points {RUNTIME_ROOTS} in {elf}: nothing checked")
        parent = reach(edges, roots)
        bad = [f for f in parent if PANIC.search(funcs[f][3])]
        jumps = [(funcs[f][3], j) for f in parent for j in indirect[f]]
        print(f"{len(roots)} runtime functions, {len(parent)} reachable")
        for f in bad:
            path, g = [], f
            while g is not None:
                path.append(funcs[g][3]); g = parent[g]
            print("PANIC PATH: " + " -> ".join(reversed(path)))
        for name, j in jumps:
            print(f"INDIRECT JUMP (cannot follow) in {name}: {j}")
        if bad or jumps:
            sys.exit(1)
        print("no panic symbol reachable from the runtime's functions")
    elif cmd == "size":
        # What loading and inference link: everything reachable from the two entry points
        # (the kernel self-check the example runs at boot is not part of it).
        entry = [i for i, f in enumerate(funcs) if f[2] in RUNTIME_ROOTS or f[3] in RUNTIME_ROOTS]
        parent = reach(edges, entry)
        runtime = [f for f in parent if f in entry or funcs[f][3].startswith(("tinymlp::", "<tinymlp::"))]
        named = sum(funcs[f][1] - funcs[f][0] for f in runtime)
        closure = sum(funcs[f][1] - funcs[f][0] for f in parent)
        print(f"runtime_named_code_bytes {named}")
        print(f"runtime_reachable_code_bytes {closure}")
        for f in sorted(parent, key=lambda f: funcs[f][0] - funcs[f][1]):
            print(f"  {funcs[f][1] - funcs[f][0]:6d} {funcs[f][3]}")
    elif cmd == "ranges":
        root = [i for i, f in enumerate(funcs) if f[2] == sys.argv[3] or f[3] == sys.argv[3]]
        if not root:
            sys.exit(f"no function {sys.argv[3]}")
        inside = set(reach(edges, root))
        for f in sorted(inside):
            callers = [g for g in edges if f in edges[g]]
            shared = f not in root and any(g not in inside for g in callers)
            print(f"{funcs[f][0]:#010x} {funcs[f][1]:#010x} {int(shared)} {funcs[f][3]}")
    else:
        sys.exit(f"unknown command {cmd}")

main()
EOF
