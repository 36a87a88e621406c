#!/usr/bin/env bash
# Peer for the `Pyramid 16384²` benchmark (MapBenchmarks): libvips `dzsave` with 256-px JPEG q85 tiles in the
# Google (XYZ) layout, on a 16384² RGB canvas made by libvips itself (gradients plus Gaussian noise), timed with
# /usr/bin/time for wall time and peak RSS. Also writes the canvas as an uncompressed .v file so that Atlas can be
# given the same pixels: ATLAS_BENCH_INPUT=/tmp/canvas16k.v swift package benchmark --target MapBenchmarks --filter "Pyramid.*"
# Needs Debian's libvips-tools.  Usage: Benchmarks/peers/pyramid_vips.sh [SIDE] [WORKDIR]
set -euo pipefail
side=${1:-16384}
dir=${2:-/tmp/atlas-vips-peer}
mkdir -p "$dir"
v="$dir/canvas${side}.v"
if [ ! -f "$v" ]; then
  vips xyz "$dir/xy.v" "$side" "$side"
  vips extract_band "$dir/xy.v" "$dir/x.v" 0
  vips extract_band "$dir/xy.v" "$dir/y.v" 1
  vips gaussnoise "$dir/n.v" "$side" "$side" --mean 0 --sigma 16
  vips linear "$dir/x.v" "$dir/r.v" $(echo "255 / $side" | bc -l) 0
  vips add "$dir/x.v" "$dir/y.v" "$dir/xpy.v"
  vips linear "$dir/xpy.v" "$dir/g.v" $(echo "127 / $side" | bc -l) 0
  vips add "$dir/r.v" "$dir/n.v" "$dir/rn.v"
  vips bandjoin "$dir/rn.v $dir/g.v $dir/n.v" "$dir/rgb.v"
  vips cast "$dir/rgb.v" "$v" uchar
  rm -f "$dir"/{xy,x,y,n,r,xpy,g,rn,rgb}.v
fi
rm -rf "$dir/tiles"
/usr/bin/time -f "vips dzsave ${side}²: %e s wall, %M KiB peak RSS" \
  vips dzsave "$v" "$dir/tiles" --layout google --tile-size 256 --overlap 0 --suffix .jpg[Q=85]
