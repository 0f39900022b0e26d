#!/usr/bin/env bash
# Prepares, on a machine with npm access, what bench/cuda-device.sh needs on a GPU machine that
# has none: .gpu/a (≤ 64 MiB with the working tree: one device call) and .gpu/b (the second call).
#
# The CUDA provider library is 230 MB, 166 MB of it device code for six GPU generations (sm_75 to
# sm_120, compressed cubins, no PTX). For one Hopper GPU only the sm_90 cubins are ever loaded, so
# the others' payloads are zeroed (headers kept): the library then compresses to 38 MB with xz.
# Set ARCH to keep another generation (e.g. ARCH=80 for an A100).
#
#   npm ci && npm run build && bash bench/cuda-stage.sh
set -euo pipefail
ARCH=${ARCH:-90}
PKG=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
WORK=${WORK:-/tmp/recon-cuda-stage}
mkdir -p "$WORK" .gpu/a .gpu/b
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
# The provider package (hundreds of MB), its zeroing and the xz take minutes: done once (delete
# .gpu/a/cuda.sm90.so.xz to redo them).
staged() { [ -f .gpu/a/cuda.sm90.so.xz ] && [ -f .gpu/a/libonnxruntime_providers_shared.so ]; }
staged || [ -f "$WORK/package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so" ] || (cd "$WORK" && npm pack "$PKG" --silent && tar -xzf ./*.tgz)
SRC="$WORK/package/Plugins/Linux/x64"
staged || python3 - "$SRC/libonnxruntime_providers_cuda.so" "$WORK/providers_cuda.sm$ARCH.so" "$ARCH" <<'EOF'
import struct, sys
src, dst, keep = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = bytearray(open(src, 'rb').read())
# ELF64 section headers: find .nv_fatbin
shoff = struct.unpack_from('<Q', b, 0x28)[0]
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', b, 0x3A)
sections = [struct.unpack_from('<IIQQQQ', b, shoff + i * shentsize) for i in range(shnum)]
strtab = sections[shstrndx][4]
name = lambda s: b[strtab + s[0]:b.index(b'\0', strtab + s[0])].decode()
fat = next(s for s in sections if name(s) == '.nv_fatbin')
p, end, zeroed, kept = fat[4], fat[4] + fat[5], 0, 0
while p < end:
    magic, _, header, size = struct.unpack_from('<IHHQ', b, p)
    if magic != 0xBA55ED50:  # alignment padding between fatbins
        p += 8
        continue
    q, stop = p + header, p + header + size
    while q < stop:
        _, _, entry_header, payload = struct.unpack_from('<HHIQ', b, q)
        arch = struct.unpack_from('<I', b, q + 28)[0]
        if arch != keep:
            b[q + entry_header:q + entry_header + payload] = bytes(payload)
            zeroed += payload
        else:
            kept += payload
        q += entry_header + payload
    p = stop
open(dst, 'wb').write(b)
print(f'sm_{keep}: kept {kept / 1e6:.1f} MB of device code, zeroed {zeroed / 1e6:.1f} MB')
EOF
staged || {
  xz -T0 -9e -c "$WORK/providers_cuda.sm$ARCH.so" >.gpu/a/cuda.sm90.so.xz
  cp "$SRC/libonnxruntime_providers_shared.so" .gpu/a/
}
BIN=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
xz -T0 -6 -c "$BIN/libonnxruntime.so.1" >.gpu/a/libonnxruntime.so.1.xz
cp "$BIN/onnxruntime_binding.node" .gpu/a/
# Production dependencies only, without onnxruntime-node's per-platform binaries (staged above).
mapfile -t MODULES < <(npm ls --omit=dev --parseable --all 2>/dev/null | sed "s|^$PWD/||" | tail -n +2 | grep -v '@types/\|undici-types')
tar -cJf .gpu/a/node_modules.tar.xz --exclude='onnxruntime-node/bin' "${MODULES[@]}"
tar -cJf .gpu/a/dist.tar.xz --exclude='*.map' --exclude='dist/test' dist
mkdir -p .gpu/b/data
[ -f .gpu/b/data/train.npz ] || npx tsx src/cli/main.ts data multi-fashion-mnist -o .gpu/b/data --limit 10240 >/dev/null
rm -f .gpu/b/data/test.npz
xz -T0 -6 -c "$(command -v node)" >.gpu/b/node.xz
du -sh .gpu/a .gpu/b
