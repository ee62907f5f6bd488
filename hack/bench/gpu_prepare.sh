#!/usr/bin/env bash
# Packs what hack/bench/bench_gpu.py needs on a lent accelerator into .gpu/ (git-ignored through
# .git/info/exclude), within the device tool's 64 MiB: SmolLM2-135M-Instruct's config and tokenizer
# (its weights are too large to travel; the script then uses random weights of the same shape)
# and wheels, for the device's Python 3.12, of the packages the images import that its image
# lacks or holds at another version (transformers 5 there; the images pin <5). Versions are this
# venv's, so the device runs what CI tests. Then, from the device tool (docs/benchmarks.md, "GPU"):
#   run carry=[".gpu"] command: hack/bench/gpu_run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/model .gpu/whl
model=$("$py" hack/real_model.py)
find "$model" -maxdepth 1 \( -name "*.json" -o -name "*.jinja" \) -exec cp {} .gpu/model/ \;
pins=()
for name in transformers tokenizers huggingface-hub peft pydantic pydantic-core annotated-types \
    typing-inspection boto3 botocore s3transfer jmespath jsonschema jsonschema-specifications \
    referencing rpds-py google-re2; do
  pins+=("$name==$("$py" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")")
done
platforms=()
for n in 17 24 27 28 31 34; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
"$py" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" --platform manylinux2014_x86_64 -d .gpu/whl "${pins[@]}"
du -sh .gpu | awk '{print ".gpu/ holds " $1 " (the device tool carries at most 64 MiB)"}'
