# Shared by scripts/gpu-bench and scripts/gpu-train (sourced, not run): what travels to a lent GPU
# machine, which has no Rust toolchain and takes at most 64 MiB of working tree per call.
# tests/fixtures alone is 49 MB, so `pack` takes it out of git's index (the files stay) until
# `restore` puts it back. Callers set pack_dir and run from the repository root.

marker='# scripts/gpu-bench or gpu-train pack: fixtures stay home'
travel_limit=$((64 * 1024 * 1024))

travelling_bytes() {
    # What the device tool sends: tracked and untracked-not-ignored files, plus the carried pack.
    local tree pack
    tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null |
        awk '{s += $1} END {print s + 0}')
    pack=$(du -sb "$pack_dir" 2>/dev/null | cut -f1)
    echo $((tree + ${pack:-0}))
}

exclude_file() { git rev-parse --git-path info/exclude; }

restore() {
    git reset -q -- tests/fixtures
    local exclude
    exclude=$(exclude_file)
    if [ -f "$exclude" ]; then
        grep -v -x -F -e "$marker" -e /tests/fixtures/ "$exclude" >"$exclude.tmp" || true
        mv "$exclude.tmp" "$exclude"
    fi
    if git status --porcelain -- tests/fixtures | grep -q .; then
        echo "tests/fixtures differs from HEAD after restoring; check git status" >&2
        return 1
    fi
    echo "tests/fixtures is tracked again"
}

# Build the release binary and start a fresh pack: the binary (xz) and the Vulkan loader.
pack_binary() {
    command -v xz >/dev/null || { echo "pack needs xz" >&2; exit 1; }
    if ! git diff --cached --quiet; then
        echo "the index holds staged changes; commit or unstage them first (restore resets it)" >&2
        exit 1
    fi
    local target=${CARGO_TARGET_DIR:-target}
    nice cargo build --release --locked
    rm -rf "$pack_dir"
    mkdir -p "$pack_dir/gl"
    echo "packing the binary (xz)..."
    xz -T0 -6 -c "$target/release/stylespace" >"$pack_dir/stylespace.xz"
    # The machine may lack the Vulkan loader (the device notes): bring it.
    (cd "$pack_dir/gl" && apt-get download libvulkan1) || echo "warning: no libvulkan1 .deb packed" >&2
}

# Take tests/fixtures out of what travels and check the size; prints the call to make.
detach_fixtures() {
    local script=$1 timeout=$2
    git rm -r -q --cached tests/fixtures
    printf '%s\n/tests/fixtures/\n' "$marker" >>"$(exclude_file)"
    local bytes
    bytes=$(travelling_bytes)
    echo "travels: $((bytes / 1024 / 1024)) MiB of 64 ($bytes bytes; pack $(du -sh "$pack_dir" | cut -f1))"
    if [ "$bytes" -gt "$travel_limit" ]; then
        restore
        echo "over the device tool's 64 MiB: nothing detached" >&2
        exit 1
    fi
    cat <<END
Now call the device tool from this checkout:
  run(command: "scripts/$script run", carry: ["$pack_dir"], timeout_s: $timeout)
then, whatever happened:  scripts/$script restore
END
}

# There: the Vulkan loader and NVIDIA's driver file where the machine lacks them, and the packed
# binary unpacked to $1 (or, without a pack, the local release build). Sets `bin`.
device_setup() {
    bin=$1
    # wgpu looks for a display server: say where the runtime directory is, quietly.
    export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
    if compgen -G "$pack_dir/gl/*.deb" >/dev/null && ! ldconfig -p | grep -q libvulkan.so.1; then
        for f in "$pack_dir"/gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
        ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    if [ -f "$pack_dir/stylespace.xz" ]; then
        python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst: shutil.copyfileobj(src, dst)' \
            "$pack_dir/stylespace.xz" "$bin"
        chmod +x "$bin"
    else
        bin=${STYLESPACE_BIN:-${CARGO_TARGET_DIR:-target}/release/stylespace}
    fi
}

machine_info() {
    date -u +"%Y-%m-%d %H:%M UTC"
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null || true
    lscpu 2>/dev/null | grep -m1 'Model name' || true
}
