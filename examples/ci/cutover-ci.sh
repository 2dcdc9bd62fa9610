#!/usr/bin/env bash
# The cutover side of a pull-request pipeline, called by the GitHub Actions
# and GitLab CI workflows beside it (and runnable by hand):
#
#   cutover-ci.sh plan DIR OUT          validate, fmt -check, plan -out OUT/cutover.plan,
#                                       OUT/plan.md (the PR comment), OUT/plan.txt,
#                                       and the step summary when $GITHUB_STEP_SUMMARY is set;
#                                       exit 0 (no changes) or 2 (changes), 1 on error
#   cutover-ci.sh comment-github PR FILE  post FILE on pull request PR, or update the
#                                       comment that carries the same marker (needs gh)
#   cutover-ci.sh comment-gitlab MR FILE  the same for a GitLab merge request (needs curl,
#                                       $GITLAB_TOKEN, $CI_API_V4_URL, $CI_PROJECT_ID)
#   cutover-ci.sh apply DIR PLANFILE    apply exactly the reviewed plan; cutover refuses
#                                       it (exit 1, nothing changed) if it is stale
#
# `cutover` must be on PATH (or set $CUTOVER to its path).
set -euo pipefail
cutover="${CUTOVER:-cutover}"

plan() {
  local dir="$1" out="$2"
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  "$cutover" -chdir "$dir" validate
  "$cutover" fmt -check -diff "$dir"
  local code=0
  "$cutover" -chdir "$dir" plan -no-color -detailed-exitcode -out "$out/cutover.plan" >"$out/plan.txt" || code=$?
  if [ "$code" -eq 1 ]; then
    cat "$out/plan.txt"
    return 1
  fi
  cat "$out/plan.txt"
  "$cutover" show --format markdown "$out/cutover.plan" >"$out/plan.md"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    "$cutover" show --format markdown --summary "$out/cutover.plan" >>"$GITHUB_STEP_SUMMARY"
  fi
  return "$code"
}

# The first line of a plan comment is its marker: <!-- cutover:plan:MIGRATION:DIR -->.
marker() {
  head -n 1 "$1"
}

comment_github() {
  local pr="$1" file="$2" repo="${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}"
  local mark id
  mark="$(marker "$file")"
  id="$(gh api --paginate "repos/$repo/issues/$pr/comments" \
    --jq ".[] | select(.body | startswith(\"$mark\")) | .id" | head -n 1)"
  if [ -n "$id" ]; then
    gh api --method PATCH "repos/$repo/issues/comments/$id" -F "body=@$file" >/dev/null
    echo "updated comment $id on #$pr"
  else
    gh api --method POST "repos/$repo/issues/$pr/comments" -F "body=@$file" >/dev/null
    echo "commented on #$pr"
  fi
}

comment_gitlab() {
  local mr="$1" file="$2"
  local api="${CI_API_V4_URL:?}/projects/${CI_PROJECT_ID:?}/merge_requests/$mr/notes"
  local auth="PRIVATE-TOKEN: ${GITLAB_TOKEN:?GITLAB_TOKEN (a token with api scope) is not set}"
  local mark id
  mark="$(marker "$file")"
  id="$(curl -sSf --header "$auth" "$api?per_page=100" |
    python3 -c 'import json, sys; m = sys.argv[1]; print(next((str(n["id"]) for n in json.load(sys.stdin) if n["body"].startswith(m)), ""))' "$mark")"
  if [ -n "$id" ]; then
    curl -sSf --request PUT --header "$auth" --data-urlencode "body@$file" "$api/$id" >/dev/null
    echo "updated note $id on !$mr"
  else
    curl -sSf --request POST --header "$auth" --data-urlencode "body@$file" "$api" >/dev/null
    echo "commented on !$mr"
  fi
}

apply() {
  local dir="$1" planfile
  planfile="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
  # -auto-approve: the reviewed plan, points of no return included, was approved by the merge.
  "$cutover" -chdir "$dir" apply -auto-approve "$planfile"
}

case "${1:-}" in
  plan) plan "$2" "$3" ;;
  comment-github) comment_github "$2" "$3" ;;
  comment-gitlab) comment_gitlab "$2" "$3" ;;
  apply) apply "$2" "$3" ;;
  *)
    sed -n '2,19p' "$0" >&2
    exit 64
    ;;
esac
