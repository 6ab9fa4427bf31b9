#!/usr/bin/env bash
# The pull-request check of action.yml: build base and head with zkml-tracker, measure them interleaved on
# this runner, write the Markdown verdicts to the job summary, fail on a confirmed regression only.
#
# Inputs come as INPUT_* variables (action.yml sets them): INPUT_FRAMEWORK (required), INPUT_ENTRY (the
# framework's frameworks.yaml entry as YAML) or INPUT_CONFIG (a frameworks.yaml holding it), INPUT_MODELS
# (space-separated; empty: the config's suite), INPUT_ROUNDS, INPUT_BASE (empty: head's first parent, which
# for a pull request's merge commit is the base branch), INPUT_HEAD (default HEAD), INPUT_PYTHON.
# ZKML_TRACKER names an installed zkml-tracker to use instead of installing this checkout of it.
set -euo pipefail

: "${INPUT_FRAMEWORK:?the framework input is required}"
action=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
workspace=${GITHUB_WORKSPACE:-$PWD}
work=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/zkml-tracker-pr
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
outputs=${GITHUB_OUTPUT:-/dev/null}
export ZKML_TRACKER_MACHINE=${ZKML_TRACKER_MACHINE:-github-actions-pr-check}
rm -rf "$work" && mkdir -p "$work"

# the tracker: this checkout of it, installed into a venv of its own
tracker=${ZKML_TRACKER:-}
if [ -z "$tracker" ]; then
  "${INPUT_PYTHON:-python3}" -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet "$action"
  tracker=$work/venv/bin/zkml-tracker
fi
python=$(dirname "$tracker")/python

# base and head on one history the tracker follows: head's first parents, pushed to a local repository
head=$(git -C "$workspace" rev-parse --verify "${INPUT_HEAD:-HEAD}^{commit}")
base=$(git -C "$workspace" rev-parse --verify "${INPUT_BASE:-$head^1}^{commit}")
git init -q --bare "$work/history.git"
git -C "$workspace" push -q "$work/history.git" "$head:refs/heads/pr-head"

# the config: the framework's entry (or its entry in a frameworks.yaml) following that history
if [ -n "${INPUT_CONFIG:-}" ]; then
  case $INPUT_CONFIG in /*) config=$INPUT_CONFIG ;; *) config=$workspace/$INPUT_CONFIG ;; esac
  "$python" "$action/action/pr_config.py" "$INPUT_FRAMEWORK" "$work/history.git" pr-head "$work/config" \
    --config "$config"
else
  "$python" "$action/action/pr_config.py" "$INPUT_FRAMEWORK" "$work/history.git" pr-head "$work/config" \
    "${INPUT_ENTRY:?give the entry input or the config input}"
fi

models=()
for model in ${INPUT_MODELS:-}; do models+=(-m "$model"); done
status=0
"$tracker" --config "$work/config/frameworks.yaml" --results "$work/results" --html "$work/html" \
  --cache "${ZKML_TRACKER_CACHE:-$work/cache}" compare -f "$INPUT_FRAMEWORK" --rounds "${INPUT_ROUNDS:-5}" \
  "${models[@]}" --markdown "$base" "$head" > "$work/summary.md" || status=$?
tee -a "$summary" < "$work/summary.md"

case $status in
  0) echo "regression=false" >> "$outputs" ;;
  1) echo "regression=true" >> "$outputs"
     echo "::error::zkml-tracker: a confirmed regression between ${base:0:10} and ${head:0:10} (see the job summary)"
     exit 1 ;;
  *) echo "regression=false" >> "$outputs"
     echo "::warning::zkml-tracker could not compare ${base:0:10} and ${head:0:10} (exit $status): see the log above" ;;
esac
