#!/usr/bin/env bash
# pack-gpu.sh: prepares a .NET program of this repository for the GPU machine, which has CUDA and PyTorch but no .NET
# and no network (see docs/gpu-machine.md).
#
# usage: bash scripts/pack-gpu.sh [PROJECT.csproj] [extra dotnet publish arguments]
#        bash scripts/pack-gpu.sh --help
#
#   PROJECT defaults to src/Cli/Cli.csproj (the `alisa` command). The program is published for linux-x64,
#   self-contained and trimmed, with -p:JsonSerializerIsReflectionEnabledByDefault=true and
#   -p:ErrorOnDuplicatePublishOutputFiles=false (later -p: arguments of yours override them).
#   The CPU build of libtorch that TorchSharp's package brings is left out: on the GPU machine the program uses the
#   CUDA libtorch inside that machine's PyTorch.
#
# Output, in the repository root (.gpu/ is kept out of git):
#   .gpu/app.tar.xz   the published program
#   .gpu/run.sh       on the GPU machine: unpacks the program to $TMPDIR/gpu-app (again whenever app.tar.xz changed),
#                     puts PyTorch's torch/lib on LD_LIBRARY_PATH, sets ALISA_NATIVE_LIB when
#                     native/build/libalisa_native.so exists (built there by `bash native/build.sh`), runs the program
#   .gpu/publish.log  the full publish output
#
# Then, with the device tool:  run  command="bash .gpu/run.sh ARGS"  carry=[".gpu"]
set -euo pipefail

die() { echo "pack-gpu: $*" >&2; exit 1; }

source "$(dirname "$0")/help.sh"

project=src/Cli/Cli.csproj
if [[ $# -gt 0 && "$1" != -* ]]; then project=$1; shift; fi

repo=$(git rev-parse --show-toplevel 2>/dev/null) || die "run me inside the repository"
[[ -f "$project" ]] && project=$(cd "$(dirname "$project")" && pwd)/$(basename "$project")   # given from here
cd "$repo"
[[ -f "$project" ]] || die "no project file '$project' (here or under $repo)"
command -v dotnet >/dev/null || die "the .NET SDK (dotnet) is needed here to publish"
command -v xz >/dev/null || die "xz is needed to compress the package"

# The program's file name is its AssemblyName, or the project file's name when it sets none.
program=$(sed -n 's:.*<AssemblyName>\(.*\)</AssemblyName>.*:\1:p' "$project" | head -n 1)
program=${program:-$(basename "$project" .csproj)}

# Keep the package out of git: in .git/info/exclude (works without touching tracked files).
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >> "$exclude"

pack=$repo/.gpu
staging=$pack/app
rm -rf "$pack"
mkdir -p "$staging"

echo "pack-gpu: publishing $project (program '$program') for linux-x64 ..."
publish=(dotnet publish "$project" -c Release -r linux-x64 --self-contained
         -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true
         -p:JsonSerializerIsReflectionEnabledByDefault=true -p:ErrorOnDuplicatePublishOutputFiles=false
         -o "$staging" "$@")
if ! "${publish[@]}" > "$pack/publish.log" 2>&1; then
  tail -n 30 "$pack/publish.log" >&2
  die "dotnet publish failed (whole log: $pack/publish.log)"
fi
[[ -x "$staging/$program" ]] || die "publish produced no executable '$program' in $staging"

# Leave out the CPU libtorch and its companions (LibTorchSharp itself stays), plus debug symbols.
bash "$repo/scripts/strip-cpu-libtorch.sh" "$staging"

tar -C "$pack" -cf - app | xz -T0 -6 > "$pack/app.tar.xz"
rm -rf "$staging"

# The launcher. Only $program is filled in now; everything else is resolved on the GPU machine.
cat > "$pack/run.sh" <<'LAUNCHER'
#!/usr/bin/env bash
# Made by scripts/pack-gpu.sh. Runs the packed program on the GPU machine against the CUDA libtorch of its PyTorch.
#   bash .gpu/run.sh ARGS        (from the repository root, with .gpu carried along)
set -euo pipefail
pack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$pack")
dest=${TMPDIR:-/tmp}/gpu-app

# Unpack once per package: a stamp holds the archive's checksum, so a new pack replaces an old extraction.
# A lock keeps runs started in parallel from unpacking over each other.
unpack() {
  local stamp fresh
  stamp=$(cksum < "$pack/app.tar.xz")
  [[ -x "$dest/app/@PROGRAM@" && "$(cat "$dest/stamp" 2>/dev/null)" == "$stamp" ]] && return 0
  fresh=$(mktemp -d "$dest/unpack.XXXXXX")
  xz -dc "$pack/app.tar.xz" | tar -xf - -C "$fresh"
  rm -rf "$dest/app" "$dest/stamp"
  mv "$fresh/app" "$dest/app"
  rmdir "$fresh"
  echo "$stamp" > "$dest/stamp"
}
mkdir -p "$dest"
if command -v flock > /dev/null; then
  ( flock 9; unpack ) 9> "$dest/lock"
else
  unpack
fi

torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') \
  || { echo "run.sh: python3 cannot import torch; its lib/ folder is the libtorch this program needs" >&2; exit 1; }
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [[ -z "${ALISA_NATIVE_LIB:-}" && -f "$repo/native/build/libalisa_native.so" ]]; then
  export ALISA_NATIVE_LIB=$repo/native/build/libalisa_native.so
fi
export DOTNET_gcServer=1
exec "$dest/app/@PROGRAM@" "$@"
LAUNCHER
sed -i "s|@PROGRAM@|$program|g" "$pack/run.sh"
chmod +x "$pack/run.sh"

echo "pack-gpu: $(du -h "$pack/app.tar.xz" | cut -f1) in $pack/app.tar.xz"
echo "pack-gpu: on the GPU machine: bash .gpu/run.sh ARGS   (carry .gpu)"
